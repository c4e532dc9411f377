#!/usr/bin/env bash
#
# Compare dynomite with direct redis and with nutcracker (twemproxy), all on
# loopback, and print the results as markdown tables for a README.
#
# One redis-server is shared by three targets:
#   A  redis-server itself
#   B  nutcracker, one pool with that redis as its only server
#   C  dynomite, one node with that redis as its only datastore
#
# For every test (SET, GET, INCR, MGET of 10 keys), pipeline depth and value
# size, redis-benchmark runs against A, B and C in turn, and the whole matrix is
# repeated BENCH_ROUNDS times so that drift of the machine hits every target
# alike. The tables show medians over the rounds. CPU time of the proxies comes
# from /proc/PID/stat (utime + stime) read around each run; memory per client
# connection from VmRSS with BENCH_CONNS connections open (hold-conns.py).
#
# Two further sections follow the main matrix (each can be turned off):
#
#   cluster    two redis-servers and two dynomite nodes forming one datacenter
#              with two racks (every key in both), loaded through node A with
#              write/read consistency DC_ONE and, as a second pair, DC_QUORUM;
#              SET and GET interleaved with direct redis. After every run a key
#              written through node A must show up in both redis-servers.
#   memcached  memcached direct, through nutcracker and through dynomite
#              (data_store: 1), with memtier_benchmark if installed, else
#              memaslap (libmemcached-tools), else mc-load.py. If dynomite
#              refuses data_store 1, its column shows n/a.
#
# Usage:
#   contrib/bench/bench.sh > bench.md           # progress goes to stderr
#   BENCH_REQUESTS=50000 contrib/bench/bench.sh  # quick run
#   SKIP_DYNOMITE=1 contrib/bench/bench.sh       # redis and nutcracker only
#
# On 2 cores the default run takes about 17 minutes (12 for the main matrix,
# 5 for the cluster and memcached sections), the quick run about 4. If
# dynomite fails to build or start, or dies during the load, its columns show
# n/a and the rest of the run goes on.
#
# Environment (defaults in brackets):
#   BENCH_REQUESTS            requests per run without pipelining [200000]
#   BENCH_REQUESTS_PIPELINED  requests per pipelined run [2 x BENCH_REQUESTS]
#   BENCH_CLIENTS             parallel connections of redis-benchmark [50]
#   BENCH_ROUNDS              rounds over the whole matrix [3]
#   BENCH_TESTS               any of: set get incr mget ["set get incr mget"]
#   BENCH_PIPELINES           pipeline depths ["1 16"]
#   BENCH_SIZES               SET value sizes in bytes ["3 1024"]
#   BENCH_KEYSPACE            random key range (-r) [100000]
#   BENCH_CONNS               connections for the memory test [1000]
#   BENCH_RUN_TIMEOUT         seconds before one redis-benchmark run is
#                             abandoned [300]
#   BENCH_KEEP                1 keeps the scratch directory (configs, logs) [0]
#   DYNOMITE_BIN              use this binary instead of building one
#   SKIP_DYNOMITE             1 leaves dynomite out; its columns show n/a [0]
#   BENCH_CLUSTER             0 leaves the two-rack cluster section out [1]
#   BENCH_CLUSTER_PIPELINES   pipeline depths of the cluster section ["16 1"]
#   BENCH_CLUSTER_REQUESTS    requests per cluster run without pipelining, twice
#                             as many pipelined [BENCH_REQUESTS]
#   BENCH_MEMCACHED           0 leaves the memcached section out [1]
#   BENCH_MC_SECONDS          seconds per memcached run [BENCH_REQUESTS/40000,
#                             at least 2]
#   BENCH_MC_TOOL             force the memcached load tool: memtier, memaslap
#                             or python [first one installed, in that order]
#
# Everything this script starts is stopped by pid when it exits.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE="$ROOT/contrib/bench"

BENCH_REQUESTS=${BENCH_REQUESTS:-200000}
BENCH_REQUESTS_PIPELINED=${BENCH_REQUESTS_PIPELINED:-$((BENCH_REQUESTS * 2))}
BENCH_CLIENTS=${BENCH_CLIENTS:-50}
BENCH_ROUNDS=${BENCH_ROUNDS:-3}
BENCH_TESTS=${BENCH_TESTS:-"set get incr mget"}
BENCH_PIPELINES=${BENCH_PIPELINES:-"1 16"}
BENCH_SIZES=${BENCH_SIZES:-"3 1024"}
BENCH_KEYSPACE=${BENCH_KEYSPACE:-100000}
BENCH_CONNS=${BENCH_CONNS:-1000}
BENCH_RUN_TIMEOUT=${BENCH_RUN_TIMEOUT:-300}
BENCH_KEEP=${BENCH_KEEP:-0}
DYNOMITE_BIN=${DYNOMITE_BIN:-}
SKIP_DYNOMITE=${SKIP_DYNOMITE:-0}
DYNOMITE_BUILT=0
BENCH_CLUSTER=${BENCH_CLUSTER:-1}
BENCH_CLUSTER_PIPELINES=${BENCH_CLUSTER_PIPELINES:-"16 1"}
BENCH_CLUSTER_REQUESTS=${BENCH_CLUSTER_REQUESTS:-$BENCH_REQUESTS}
BENCH_MEMCACHED=${BENCH_MEMCACHED:-1}
BENCH_MC_SECONDS=${BENCH_MC_SECONDS:-$((BENCH_REQUESTS / 40000 > 2 ? BENCH_REQUESTS / 40000 : 2))}
BENCH_MC_TOOL=${BENCH_MC_TOOL:-}

TARGETS=(redis nutcracker dynomite)
declare -A PORT=() PID=() UP=() CONN_RSS=() PEER_PORT=() STATS_PORT=() COPIES=()

log() {
    printf 'bench: %s\n' "$*" >&2
}

die() {
    log "$*"
    exit 1
}

# ---------------------------------------------------------------- clean-up

WORK=$(mktemp -d "${TMPDIR:-/tmp}/dynomite-bench.XXXXXX")
STARTED=()

cleanup() {
    local pid
    for pid in "${STARTED[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${STARTED[@]}"; do
        local i
        for ((i = 0; i < 50; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            kill -KILL "$pid" 2>/dev/null || true
        fi
        wait "$pid" 2>/dev/null || true
    done
    if [[ $BENCH_KEEP == 1 ]]; then
        log "scratch directory kept: $WORK"
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ------------------------------------------------------------ prerequisites

apt_install() {
    local sudo=()
    if [[ $(id -u) != 0 ]]; then
        command -v sudo >/dev/null || { log "need root or sudo to install: $*"; return 1; }
        sudo=(sudo)
    fi
    log "installing $*"
    "${sudo[@]}" apt-get update -qq >&2 || return 1
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "$@" >&2
    # The packages start their own services; this script never uses them.
}

# apt_has PACKAGE: the package has an install candidate.
apt_has() {
    local candidate
    candidate=$(apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ { print $2 }')
    [[ -n $candidate && $candidate != "(none)" ]]
}

install_missing() {
    local need=()
    command -v redis-server >/dev/null || need+=(redis-server)
    if ! command -v redis-benchmark >/dev/null || ! command -v redis-cli >/dev/null; then
        need+=(redis-tools)
    fi
    command -v nutcracker >/dev/null || need+=(nutcracker)
    command -v python3 >/dev/null || need+=(python3)
    if ((${#need[@]} > 0)); then
        apt_install "${need[@]}" || die "could not install ${need[*]}"
    fi

    [[ $BENCH_MEMCACHED == 1 ]] || return 0
    need=()
    command -v memcached >/dev/null || need+=(memcached)
    if [[ -z $BENCH_MC_TOOL ]] && ! command -v memtier_benchmark >/dev/null &&
        ! command -v memaslap >/dev/null && ! command -v memcaslap >/dev/null; then
        if apt_has memtier-benchmark; then
            need+=(memtier-benchmark)
        elif apt_has libmemcached-tools; then
            need+=(libmemcached-tools)
        fi
    fi
    if ((${#need[@]} > 0)); then
        # Optional: without a load tool mc-load.py is used, without memcached
        # the section is left out.
        apt_install "${need[@]}" || log "could not install ${need[*]}"
    fi
}

raise_fd_limit() {
    local want=$((BENCH_CONNS + BENCH_CLIENTS + 1024))
    local soft hard
    soft=$(ulimit -Sn)
    hard=$(ulimit -Hn)
    [[ $soft == unlimited ]] && return 0
    ((soft >= want)) && return 0
    if [[ $hard != unlimited ]] && ((hard < want)); then
        want=$hard
    fi
    ulimit -Sn "$want" || log "could not raise the open-file limit to $want"
}

# Distinct free loopback ports: bind them all at once, then release them.
free_ports() {
    python3 - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}

# ------------------------------------------------------------- processes

# cpu_ticks PID: user + system time of PID in clock ticks.
cpu_ticks() {
    local stat
    stat=$(<"/proc/$1/stat")
    # Fields after the parenthesised command name start at field 3 (state);
    # utime and stime are fields 14 and 15.
    stat=${stat##*) }
    awk '{ print $12 + $13 }' <<<"$stat"
}

vm_rss_kib() {
    awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"
}

# wait_ready NAME: PING the target until it answers PONG or its process dies.
wait_ready() {
    local name=$1 i
    for ((i = 0; i < 100; i++)); do
        kill -0 "${PID[$name]}" 2>/dev/null || return 1
        if [[ $(redis-cli -h 127.0.0.1 -p "${PORT[$name]}" PING 2>/dev/null) == PONG ]]; then
            return 0
        fi
        sleep 0.1
    done
    return 1
}

# start_redis NAME: a redis-server on PORT[NAME].
start_redis() {
    local name=$1
    redis-server --bind 127.0.0.1 --port "${PORT[$name]}" --save '' \
        --appendonly no --daemonize no --maxclients 10000 --dir "$WORK" \
        --logfile "$WORK/$name.log" >/dev/null 2>&1 &
    PID[$name]=$!
    STARTED+=("$!")
    wait_ready "$name" || die "redis-server did not start; see $WORK/$name.log"
    UP[$name]=1
}

# stop NAME: stop a process this script started, before the end of the run.
stop() {
    local name=$1 pid=${PID[$1]:-} i keep=()
    [[ -n $pid ]] || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
    for i in "${STARTED[@]}"; do
        [[ $i == "$pid" ]] || keep+=("$i")
    done
    STARTED=("${keep[@]}")
    unset 'PID[$name]'
    UP[$name]=0
}

start_nutcracker() {
    cat >"$WORK/nutcracker.yml" <<EOF
bench:
  listen: 127.0.0.1:${PORT[nutcracker]}
  redis: true
  hash: fnv1a_64
  distribution: ketama
  servers:
   - 127.0.0.1:${PORT[redis]}:1
EOF
    nutcracker -c "$WORK/nutcracker.yml" -s "$NUTCRACKER_STATS_PORT" -a 127.0.0.1 \
        -o "$WORK/nutcracker.log" >/dev/null 2>&1 &
    PID[nutcracker]=$!
    STARTED+=("$!")
    wait_ready nutcracker || die "nutcracker did not start; see $WORK/nutcracker.log"
    UP[nutcracker]=1
}

build_dynomite() {
    if [[ -n $DYNOMITE_BIN ]]; then
        [[ -x $DYNOMITE_BIN ]] || { log "DYNOMITE_BIN=$DYNOMITE_BIN is not executable"; return 1; }
        return 0
    fi
    log "building dynomite (cargo build --release)"
    if ! (cd "$ROOT" && cargo build --release --bin dynomite >&2); then
        log "cargo build failed"
        return 1
    fi
    DYNOMITE_BIN="$ROOT/target/release/dynomite"
}

start_dynomite() {
    # dyn_listen and tokens make a complete single node; the node has no
    # peers, so every key is local.
    cat >"$WORK/dynomite.yml" <<EOF
dyn_o_mite:
  listen: 127.0.0.1:${PORT[dynomite]}
  dyn_listen: 127.0.0.1:${DYNOMITE_PEER_PORT}
  tokens: '0'
  servers:
  - 127.0.0.1:${PORT[redis]}:1
  data_store: 0
  stats_listen: 127.0.0.1:${DYNOMITE_STATS_PORT}
EOF
    "$DYNOMITE_BIN" -c "$WORK/dynomite.yml" -o "$WORK/dynomite.log" \
        >"$WORK/dynomite.out" 2>&1 &
    PID[dynomite]=$!
    STARTED+=("$!")
    if ! wait_ready dynomite; then
        log "dynomite did not answer PING; its column shows n/a"
        tail -n 5 "$WORK/dynomite.out" "$WORK/dynomite.log" >&2 2>/dev/null || true
        return 1
    fi
    UP[dynomite]=1
}

# --------------------------------------------------------------- running

# run_one ROUND TEST PIPELINE SIZE TARGET [FILE]: one redis-benchmark run,
# appended to FILE [$RESULTS] as a tab-separated line.
run_one() {
    local round=$1 test=$2 pipeline=$3 size=$4 target=$5 file=${6:-$RESULTS}
    local pid=${PID[$target]} requests=$BENCH_REQUESTS
    ((pipeline > 1)) && requests=$BENCH_REQUESTS_PIPELINED

    local cmd=(redis-benchmark -h 127.0.0.1 -p "${PORT[$target]}" -c "$BENCH_CLIENTS"
        -n "$requests" -r "$BENCH_KEYSPACE" -P "$pipeline" -d "$size" --csv)
    case $test in
    set | get | incr) cmd+=(-t "$test") ;;
    mget)
        # Same key pattern as the built-in SET, so the keys mostly exist.
        cmd+=(MGET)
        local i
        for ((i = 0; i < 10; i++)); do cmd+=("key:__rand_int__"); done
        ;;
    *) die "unknown test '$test' (known: set get incr mget)" ;;
    esac

    local before after out rc=0
    before=$(cpu_ticks "$pid") || { UP[$target]=0; return 0; }
    out=$(timeout "$BENCH_RUN_TIMEOUT" "${cmd[@]}" 2>>"$WORK/redis-benchmark.err") || rc=$?
    if ((rc != 0)); then
        log "round $round $test P$pipeline ${size}B $target: redis-benchmark failed ($rc)"
        if ! kill -0 "$pid" 2>/dev/null; then
            log "$target has exited; no further runs against it"
            UP[$target]=0
        elif ((rc == 124)); then
            log "$target did not finish within ${BENCH_RUN_TIMEOUT}s; no further runs against it"
            UP[$target]=0
        fi
        return 0
    fi
    after=$(cpu_ticks "$pid") || { UP[$target]=0; return 0; }

    # CSV columns: test, rps, avg, min, p50, p95, p99, max (latencies in ms).
    local line rps p50 p99
    line=$(tail -n 1 <<<"$out")
    IFS=, read -r _ rps _ _ p50 _ p99 _ <<<"${line//\"/}"
    if [[ -z $rps || $rps == rps ]]; then
        log "round $round $test P$pipeline ${size}B $target: no result"
        return 0
    fi
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$test" "$pipeline" \
        "$size" "$target" "$rps" "$p50" "$p99" "$((after - before))" "$requests" >>"$file"
    log "round $round $test P$pipeline ${size}B $target: $rps req/s p50 $p50 ms p99 $p99 ms"
}

# measure_conns TARGET: VmRSS of a fresh TARGET before and with BENCH_CONNS
# open connections. Runs before the load: afterwards the proxies keep their
# grown buffer pools, and new connections would be served from them.
measure_conns() {
    local target=$1 out
    [[ ${UP[$target]:-0} == 1 ]] || return 0
    log "memory: $BENCH_CONNS connections to $target"
    if out=$(python3 "$HERE/hold-conns.py" --port "${PORT[$target]}" \
        --pid "${PID[$target]}" --count "$BENCH_CONNS"); then
        CONN_RSS[$target]=$out
        log "memory: $target $out"
    else
        log "memory: $target failed"
    fi
}

# ----------------------------------------------------------- cluster section

# One datacenter, two racks of one node each. Both nodes own token 0 in their
# rack, so every key lives in both racks: node A (rack1) writes to redis_a and
# replicates to node B (rack2), which writes to redis_b. Two such pairs share
# the two redis-servers: one with DC_ONE, one with DC_QUORUM.
CLUSTER_LEVELS=(one quorum)
declare -A LEVEL_NAME=([one]=DC_ONE [quorum]=DC_QUORUM)

# cluster_node NAME RACK REDIS OTHER OTHER_RACK LEVEL
cluster_node() {
    local name=$1 rack=$2 redis=$3 other=$4 other_rack=$5 level=$6
    cat >"$WORK/$name.yml" <<YAML
dyn_o_mite:
  listen: 127.0.0.1:${PORT[$name]}
  dyn_listen: 127.0.0.1:${PEER_PORT[$name]}
  stats_listen: 127.0.0.1:${STATS_PORT[$name]}
  datacenter: dc1
  rack: $rack
  tokens: '0'
  servers:
  - 127.0.0.1:${PORT[$redis]}:1
  data_store: 0
  write_consistency: ${LEVEL_NAME[$level]}
  read_consistency: ${LEVEL_NAME[$level]}
  dyn_seeds:
  - 127.0.0.1:${PEER_PORT[$other]}:$other_rack:dc1:0
YAML
    "$DYNOMITE_BIN" -c "$WORK/$name.yml" -o "$WORK/$name.log" >"$WORK/$name.out" 2>&1 &
    PID[$name]=$!
    STARTED+=("$!")
    if ! wait_ready "$name"; then
        log "cluster node $name did not answer PING"
        tail -n 5 "$WORK/$name.out" "$WORK/$name.log" >&2 2>/dev/null || true
        return 1
    fi
    UP[$name]=1
}

# both_copies LEVEL TAG: SET a fresh key through node A and wait until it is
# in both redis-servers. DC_ONE replicates after the reply, so allow a moment.
both_copies() {
    local level=$1 key="bench:copies:$1:$2" i reply a b
    reply=$(redis-cli -h 127.0.0.1 -p "${PORT[${level}_a]}" SET "$key" "$2" 2>&1) || true
    if [[ $reply != OK ]]; then
        log "cluster ${LEVEL_NAME[$level]}: SET $key through node A: $reply"
        return 1
    fi
    for ((i = 0; i < 30; i++)); do
        a=$(redis-cli -h 127.0.0.1 -p "${PORT[redis_a]}" EXISTS "$key" 2>/dev/null) || true
        b=$(redis-cli -h 127.0.0.1 -p "${PORT[redis_b]}" EXISTS "$key" 2>/dev/null) || true
        [[ $a == 1 && $b == 1 ]] && return 0
        sleep 0.1
    done
    log "cluster ${LEVEL_NAME[$level]}: $key in rack1 redis: ${a:-?}, in rack2 redis: ${b:-?}"
    return 1
}

# start_cluster: the two redis-servers and both pairs. A pair that does not
# come up, or whose nodes do not reach each other within 10 s, is left out.
start_cluster() {
    local level i
    start_redis redis_a
    start_redis redis_b
    for level in "${CLUSTER_LEVELS[@]}"; do
        if cluster_node "${level}_a" rack1 redis_a "${level}_b" rack2 "$level" &&
            cluster_node "${level}_b" rack2 redis_b "${level}_a" rack1 "$level"; then
            for ((i = 0; i < 20; i++)); do
                both_copies "$level" "warmup$i" 2>/dev/null && break
                sleep 0.5
            done
            if ((i == 20)); then
                log "cluster ${LEVEL_NAME[$level]}: no copy in both racks after 10 s; left out"
                UP[${level}_a]=0
            fi
        else
            UP[${level}_a]=0
        fi
        COPIES[$level]="0 0"
    done
}

# check_copies LEVEL TAG: count one sanity check; warn when it fails.
check_copies() {
    local level=$1 ok total
    read -r ok total <<<"${COPIES[$level]}"
    total=$((total + 1))
    if both_copies "$level" "$2"; then
        ok=$((ok + 1))
    else
        printf 'WARNING: cluster %s: a key written through node A is not in both redis-servers (run %s)\n' \
            "${LEVEL_NAME[$level]}" "$2" | tee -a "$CLUSTER_WARNINGS" >&2
    fi
    COPIES[$level]="$ok $total"
}

run_cluster() {
    local round pipeline test level
    # run_one reads these.
    local BENCH_REQUESTS=$BENCH_CLUSTER_REQUESTS
    local BENCH_REQUESTS_PIPELINED=$((BENCH_CLUSTER_REQUESTS * 2))
    for ((round = 1; round <= BENCH_ROUNDS; round++)); do
        for pipeline in $BENCH_CLUSTER_PIPELINES; do
            for test in set get; do
                run_one "$round" "$test" "$pipeline" 3 redis "$CLUSTER_RESULTS"
                for level in "${CLUSTER_LEVELS[@]}"; do
                    [[ ${UP[${level}_a]:-0} == 1 ]] || continue
                    run_one "$round" "$test" "$pipeline" 3 "${level}_a" "$CLUSTER_RESULTS"
                    if ! kill -0 "${PID[${level}_b]}" 2>/dev/null; then
                        log "cluster ${LEVEL_NAME[$level]}: node B has exited"
                        UP[${level}_a]=0
                    fi
                    if [[ ${UP[${level}_a]:-0} == 1 ]]; then
                        check_copies "$level" "r$round-$test-P$pipeline"
                    fi
                done
            done
        done
    done
}

# --------------------------------------------------------- memcached section

MC_TARGETS=(mc mc_nutcracker mc_dynomite)
MC_DYNOMITE_NOTE=""

# mc_ready NAME: ask PORT[NAME] for a missing key until it answers END or
# its process dies.
mc_ready() {
    local name=$1 i line
    for ((i = 0; i < 100; i++)); do
        kill -0 "${PID[$name]}" 2>/dev/null || return 1
        line=$(
            exec 2>/dev/null
            { printf 'get bench:ready\r\n' >&3 && IFS= read -t 1 -r line <&3 && printf '%s' "$line"; } \
                3<>"/dev/tcp/127.0.0.1/${PORT[$name]}"
        ) || true
        [[ $line == $'END\r' ]] && return 0
        sleep 0.1
    done
    return 1
}

start_memcached() {
    local user=()
    # memcached refuses to run as root unless told which user to be.
    [[ $(id -u) == 0 ]] && user=(-u root)
    memcached -p "${PORT[mc]}" -l 127.0.0.1 -U 0 -t 1 "${user[@]}" \
        >"$WORK/memcached.log" 2>&1 &
    PID[mc]=$!
    STARTED+=("$!")
    if ! mc_ready mc; then
        log "memcached did not start; memcached section left out"
        tail -n 5 "$WORK/memcached.log" >&2 || true
        return 1
    fi
    UP[mc]=1
}

start_mc_nutcracker() {
    cat >"$WORK/mc_nutcracker.yml" <<YAML
bench:
  listen: 127.0.0.1:${PORT[mc_nutcracker]}
  hash: fnv1a_64
  distribution: ketama
  servers:
   - 127.0.0.1:${PORT[mc]}:1
YAML
    nutcracker -c "$WORK/mc_nutcracker.yml" -s "${STATS_PORT[mc_nutcracker]}" -a 127.0.0.1 \
        -o "$WORK/mc_nutcracker.log" >/dev/null 2>&1 &
    PID[mc_nutcracker]=$!
    STARTED+=("$!")
    if ! mc_ready mc_nutcracker; then
        log "nutcracker (memcached pool) did not start; see $WORK/mc_nutcracker.log"
        return 1
    fi
    UP[mc_nutcracker]=1
}

# start_mc_dynomite: a node with data_store 1. A version that does not serve
# memcached yet refuses the configuration and exits; its column shows n/a.
start_mc_dynomite() {
    cat >"$WORK/mc_dynomite.yml" <<YAML
dyn_o_mite:
  listen: 127.0.0.1:${PORT[mc_dynomite]}
  dyn_listen: 127.0.0.1:${PEER_PORT[mc_dynomite]}
  stats_listen: 127.0.0.1:${STATS_PORT[mc_dynomite]}
  tokens: '0'
  servers:
  - 127.0.0.1:${PORT[mc]}:1
  data_store: 1
YAML
    "$DYNOMITE_BIN" -c "$WORK/mc_dynomite.yml" -o "$WORK/mc_dynomite.log" \
        >"$WORK/mc_dynomite.out" 2>&1 &
    PID[mc_dynomite]=$!
    STARTED+=("$!")
    if ! mc_ready mc_dynomite; then
        if kill -0 "${PID[mc_dynomite]}" 2>/dev/null; then
            MC_DYNOMITE_NOTE="dynomite with data_store: 1 did not answer a memcached get"
        else
            MC_DYNOMITE_NOTE="dynomite refused data_store: 1 ($(grep -m 1 -v '^$' \
                "$WORK/mc_dynomite.out" "$WORK/mc_dynomite.log" 2>/dev/null |
                sed "s/^[^:]*: *//; s|$WORK/||g" | head -c 160))"
        fi
        log "$MC_DYNOMITE_NOTE; its memcached column shows n/a"
        stop mc_dynomite
        return 1
    fi
    UP[mc_dynomite]=1
}

# pick_mc_tool: MC_TOOL and MC_TOOL_BIN. The default is this repository's
# own load generator (contrib/bench/mc_load.rs): memaslap's keys hold control
# bytes, which dynomite refuses by design (memcached accepts them), and the
# Python generator is slower than the servers it measures.
pick_mc_tool() {
    local bin
    MC_TOOL=python
    MC_TOOL_BIN=python3
    case $BENCH_MC_TOOL in
    "" | rust)
        if (cd "$ROOT" && cargo build --release --quiet --example mc_load) >>"$WORK/build.log" 2>&1; then
            MC_TOOL=rust
            MC_TOOL_BIN=$ROOT/target/release/examples/mc_load
            return 0
        fi
        ;;
    esac
    case $BENCH_MC_TOOL in
    "" | memtier)
        if command -v memtier_benchmark >/dev/null; then
            MC_TOOL=memtier
            MC_TOOL_BIN=memtier_benchmark
            return 0
        fi
        ;;
    esac
    case $BENCH_MC_TOOL in
    "" | memaslap)
        # Debian names memaslap memcaslap.
        for bin in memaslap memcaslap; do
            if command -v "$bin" >/dev/null; then
                MC_TOOL=memaslap
                MC_TOOL_BIN=$bin
                return 0
            fi
        done
        ;;
    esac
    return 0
}

# Tests as name:depth. memaslap has no pipelining; its batched mode is a
# multi-get of 16 keys per request.
mc_tests() {
    case $MC_TOOL in
    memaslap) echo "set:1 get:1 mget:16" ;;
    *) echo "set:1 get:1 set:16 get:16" ;;
    esac
}

# mc_load TEST DEPTH PORT: run the load tool once and print
# "ops avg_ms p50_ms p99_ms" (- where the tool gives no figure).
mc_load() {
    local test=$1 depth=$2 port=$3 secs=$BENCH_MC_SECONDS out
    case $MC_TOOL in
    memtier)
        local ratio=1:0
        [[ $test == get ]] && ratio=0:1
        out=$(timeout $((secs + 60)) memtier_benchmark -s 127.0.0.1 -p "$port" \
            --protocol=memcache_text -t 1 -c "$BENCH_CLIENTS" --pipeline="$depth" \
            --test-time="$secs" --ratio="$ratio" -d 3 --key-pattern=R:R \
            --key-maximum="$BENCH_KEYSPACE" --hide-histogram 2>>"$WORK/mc-load.err") || return 1
        # ALL STATS block: a header line naming the columns, then Sets/Gets.
        python3 -c '
import re, sys
row = {"set": "Sets", "get": "Gets"}[sys.argv[1]]
lines = sys.stdin.read().split("ALL STATS", 1)[-1].splitlines()
head = next(l for l in lines if l.startswith("Type"))
cols = re.split(r"\s{2,}", head.strip())
vals = next(l for l in lines if l.startswith(row)).split()
get = lambda name: next((v for c, v in zip(cols, vals) if c.startswith(name)), "-")
print(get("Ops/sec"), get("Avg. Latency"), get("p50"), get("p99"))
' "$test" <<<"$out"
        ;;
    memaslap)
        local cfg=$WORK/memaslap-$test.cfg division=()
        {
            printf 'key\n16 16 1\nvalue\n3 3 1\ncmd\n'
            # cmd type 0 is set, 1 is get.
            if [[ $test == set ]]; then printf '0 1.0\n1 0.0\n'; else printf '0 0.0\n1 1.0\n'; fi
        } >"$cfg"
        [[ $test == mget ]] && division=(-d "$depth")
        # A get run first stores its window of keys (-w per connection).
        out=$(timeout $((secs + 60)) "$MC_TOOL_BIN" -s "127.0.0.1:$port" -T 1 \
            -c "$BENCH_CLIENTS" -w 1k -t "${secs}s" -S "${secs}s" -F "$cfg" \
            "${division[@]}" 2>>"$WORK/mc-load.err") || return 1
        # First "Global" line after "Get Statistics" or "Set Statistics":
        # Global time ops tps net miss min max avg(us) std geo.
        local section="Get Statistics" mult=1
        [[ $test == set ]] && section="Set Statistics"
        [[ $test == mget ]] && mult=$depth
        awk -v section="$section" -v mult="$mult" '
            $0 == section { on = 1 }
            on && $1 == "Global" { printf "%d %.3f - -\n", $4 * mult, $9 / 1000; exit }
        ' <<<"$out"
        ;;
    python | rust)
        local gen=("python3" "$HERE/mc-load.py")
        [[ $MC_TOOL == rust ]] && gen=("$MC_TOOL_BIN")
        out=$(timeout $((secs + 60)) "${gen[@]}" --port "$port" --op "$test" \
            --conns "$BENCH_CLIENTS" --pipeline "$depth" --requests "$((BENCH_REQUESTS * depth))" \
            --seconds "$secs" --keyspace "$BENCH_KEYSPACE" 2>>"$WORK/mc-load.err") || return 1
        awk '{ for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
               print v["ops"], v["avg_ms"], v["p50_ms"], v["p99_ms"] }' <<<"$out"
        ;;
    esac
}

# mc_run_one ROUND TEST DEPTH TARGET: one load run, appended to $MC_RESULTS.
mc_run_one() {
    local round=$1 test=$2 depth=$3 target=$4 figures ops avg p50 p99
    if ! figures=$(mc_load "$test" "$depth" "${PORT[$target]}") || [[ -z $figures ]]; then
        log "memcached round $round $test x$depth $target: $MC_TOOL failed"
        if ! kill -0 "${PID[$target]}" 2>/dev/null; then
            log "$target has exited; no further runs against it"
            UP[$target]=0
        fi
        return 0
    fi
    read -r ops avg p50 p99 <<<"$figures"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$test" "$depth" "$target" \
        "$ops" "$avg" "$p50" "$p99" >>"$MC_RESULTS"
    log "memcached round $round $test x$depth $target: $ops ops/s avg $avg ms p50 $p50 p99 $p99"
}

run_memcached() {
    local round spec target
    for ((round = 1; round <= BENCH_ROUNDS; round++)); do
        for spec in $(mc_tests); do
            for target in "${MC_TARGETS[@]}"; do
                [[ ${UP[$target]:-0} == 1 ]] || continue
                mc_run_one "$round" "${spec%:*}" "${spec#*:}" "$target"
            done
        done
    done
}

# ------------------------------------------------------------------ report

conditions() {
    local cpu kernel dyn_version="n/a" commit
    cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
    kernel=$(uname -sr)
    commit=$(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo unknown)
    if [[ ${UP[dynomite]:-0} == 1 ]]; then
        # sed reads to the end: a closed pipe would make dynomite exit non-zero.
        dyn_version=$("$DYNOMITE_BIN" -V 2>&1 | sed -n 1p)
        [[ -n $dyn_version ]] || dyn_version="(no version line)"
    fi
    cat <<EOF
## Benchmark: redis, nutcracker and dynomite

- Date: $(date -u '+%Y-%m-%d %H:%M UTC'); host: $kernel, ${cpu:-unknown CPU}, $(nproc) cores.
  redis-benchmark, redis-server and the proxy share these cores.
- $(redis-server --version | cut -d' ' -f1-3); $(redis-benchmark --version);
  $(nutcracker --version 2>&1 | sed -n '1s/^This is //p'); dynomite: $dyn_version (commit $commit).
- redis-benchmark: $BENCH_CLIENTS clients, $BENCH_REQUESTS requests per run
  ($BENCH_REQUESTS_PIPELINED pipelined), random keys out of $BENCH_KEYSPACE,
  rounds: $BENCH_ROUNDS, targets interleaved; figures are medians over the rounds.
- One redis-server behind both proxies; nutcracker and dynomite with one server
  each and default settings. MGET asks for 10 keys. Value size applies to SET
  (GET and MGET read what SET wrote).
- CPU s/M: user + system CPU seconds of the proxy process per million requests.

EOF
}

report() {
    python3 - "$RESULTS" "$MEMORY" "$BENCH_CONNS" "$(getconf CLK_TCK)" <<'EOF'
import statistics, sys
from collections import defaultdict

results, memory, conns, hz = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
targets = ["redis", "nutcracker", "dynomite"]
order = {"set": 0, "get": 1, "incr": 2, "mget": 3}

runs = defaultdict(list)
keys = []
with open(results) as f:
    for line in f:
        rnd, test, pipe, size, target, rps, p50, p99, ticks, reqs = line.rstrip("\n").split("\t")
        key = (test, int(pipe), int(size))
        if key not in keys:
            keys.append(key)
        runs[key, target].append((float(rps), float(p50), float(p99), int(ticks), int(reqs)))
keys.sort(key=lambda k: (k[1], k[2], order.get(k[0], 9)))

def med(values):
    return statistics.median(values)

def fmt_rps(v):
    return f"{v:,.0f}"

def fmt_lat(p50, p99):
    return f"{p50:.2f} / {p99:.2f}"

head = ["test", "pipeline", "value", "redis req/s", "p50 / p99 ms"]
for name in targets[1:]:
    head += [f"{name} req/s", "vs redis", "p50 / p99 ms", "CPU s/M"]
print("| " + " | ".join(head) + " |")
print("|" + "|".join(["---"] * 3 + ["---:"] * (len(head) - 3)) + "|")
for key in keys:
    test, pipe, size = key
    label = "MGET 10 keys" if test == "mget" else test.upper()
    row = [label, f"P{pipe}", f"{size} B"]
    base = None
    for target in targets:
        rs = runs.get((key, target))
        cells = []
        if rs:
            rps = med([r[0] for r in rs])
            lat = fmt_lat(med([r[1] for r in rs]), med([r[2] for r in rs]))
            if target == "redis":
                base = rps
                cells = [fmt_rps(rps), lat]
            else:
                ratio = f"{rps / base:.2f}x" if base else "n/a"
                cpu = med([r[3] / hz / r[4] * 1e6 for r in rs])
                cells = [fmt_rps(rps), ratio, lat, f"{cpu:.2f}"]
        else:
            cells = ["n/a"] * (2 if target == "redis" else 4)
        row += cells
    print("| " + " | ".join(row) + " |")

print()
print(f"Resident memory (VmRSS) of the proxies: idle right after start, then with"
      f" {conns:,} clients connected that each sent one PING (before the load), and"
      f" after the load.")
print()
print(f"| process | RSS idle | RSS with {conns:,} clients | per client | RSS after the load |")
print("|---|---:|---:|---:|---:|")
with open(memory) as f:
    for line in f:
        fields = line.rstrip("\n").split("\t")
        target = fields[0]
        if len(fields) < 3:
            print(f"| {target} | n/a | n/a | n/a | n/a |")
            continue
        kv = dict(item.split("=") for item in fields[1].split())
        print(f"| {target} | {int(kv['idle_kib']):,} KiB | {int(kv['loaded_kib']):,} KiB"
              f" | {float(kv['per_conn_kib']):.1f} KiB | {int(fields[2]):,} KiB |")
EOF
}

report_cluster() {
    local level copies=""
    for level in "${CLUSTER_LEVELS[@]}"; do
        copies+="${LEVEL_NAME[$level]}=${COPIES[$level]:-0 0},"
    done
    cat <<TEXT

### Two racks in one datacenter

Two dynomite nodes, rack1 (node A) and rack2 (node B), both with token 0 and
each with its own redis-server, so every key is stored in both racks.
redis-benchmark ($BENCH_CLIENTS clients, 3 B values, $BENCH_CLUSTER_REQUESTS requests,
$((BENCH_CLUSTER_REQUESTS * 2)) pipelined) runs against node A; "redis" is the
redis-server of the main matrix, loaded in the same rounds. One pair runs
with write and read consistency DC_ONE (node A answers after its own rack),
the other with DC_QUORUM (both racks must answer). Target: SET at P16 through
the cluster at least 0.40x of direct redis.

TEXT
    python3 - "$CLUSTER_RESULTS" "$copies" <<'PY'
import statistics, sys
from collections import defaultdict

results, copies = sys.argv[1], sys.argv[2]
levels = [("one_a", "DC_ONE"), ("quorum_a", "DC_QUORUM")]
copies = dict(c.split("=") for c in copies.split(",") if c)
runs = defaultdict(list)
keys = []
with open(results) as f:
    for line in f:
        rnd, test, pipe, size, target, rps, p50, p99, ticks, reqs = line.rstrip("\n").split("\t")
        key = (test, int(pipe))
        if key not in keys:
            keys.append(key)
        runs[key, target].append((float(rps), float(p50), float(p99)))
keys.sort(key=lambda k: (-k[1], k[0] != "set"))
med = statistics.median

def cell(key, target):
    rs = runs.get((key, target))
    if not rs:
        return None
    return med([r[0] for r in rs]), f"{med([r[1] for r in rs]):.2f} / {med([r[2] for r in rs]):.2f}"

head = ["test", "pipeline", "redis req/s", "p50 / p99 ms"]
for _, name in levels:
    head += [f"{name} req/s", "vs redis", "p50 / p99 ms"]
print("| " + " | ".join(head) + " |")
print("|" + "|".join(["---"] * 2 + ["---:"] * (len(head) - 2)) + "|")
verdicts = []
for key in keys:
    test, pipe = key
    base = cell(key, "redis")
    row = [test.upper(), f"P{pipe}"] + ([f"{base[0]:,.0f}", base[1]] if base else ["n/a"] * 2)
    for target, name in levels:
        c = cell(key, target)
        if c:
            ratio = c[0] / base[0] if base else None
            row += [f"{c[0]:,.0f}", f"{ratio:.2f}x" if ratio else "n/a", c[1]]
            if key == ("set", 16) and ratio:
                verdicts.append(f"{name} {ratio:.2f}x ({'met' if ratio >= 0.4 else 'NOT met'})")
        else:
            row += ["n/a"] * 3
    print("| " + " | ".join(row) + " |")
print()
print("Target, SET P16 through the cluster >= 0.40x direct redis: "
      + ("; ".join(verdicts) if verdicts else "n/a") + ".")
checks = []
for _, name in levels:
    ok, total = copies.get(name, "0 0").split()
    checks.append(f"{name} {ok}/{total}")
print("Key written through node A found in both redis-servers after each run: "
      + ", ".join(checks) + ".")
PY
    if [[ -s $CLUSTER_WARNINGS ]]; then
        echo
        sed 's/^/- /' "$CLUSTER_WARNINGS"
    fi
}

report_memcached() {
    local tool_line
    case $MC_TOOL in
    memtier) tool_line="memtier_benchmark ($(memtier_benchmark --version 2>&1 | sed -n 1p)), --protocol=memcache_text, 1 thread, $BENCH_CLIENTS connections, 3 B values, ${BENCH_MC_SECONDS} s per run; x16 is --pipeline=16" ;;
    memaslap) tool_line="memaslap ($MC_TOOL_BIN, libmemcached-tools), 1 thread, $BENCH_CLIENTS connections, 16 B keys, 3 B values, ${BENCH_MC_SECONDS} s per run. memaslap does not pipeline; its batched mode is a get of 16 keys per request, counted in keys/s. It reports mean latency, not percentiles" ;;
    rust) tool_line="contrib/bench/mc_load.rs (2 threads), $BENCH_CLIENTS connections, printable keys, 3 B values, ${BENCH_MC_SECONDS} s or $BENCH_REQUESTS requests ($((BENCH_REQUESTS * 16)) at P16) per run; P16 sends 16 requests per batch on every connection" ;;
    *) tool_line="mc-load.py of this directory, $BENCH_CLIENTS connections, 3 B values, ${BENCH_MC_SECONDS} s or $BENCH_REQUESTS requests ($((BENCH_REQUESTS * 16)) at P16) per run; P16 sends 16 requests per batch. One Python process drives the load and is the bottleneck" ;;
    esac
    cat <<TEXT

### memcached

memcached $(memcached -V 2>/dev/null | cut -d' ' -f2) (-t 1) direct, through nutcracker (one server, no
redis: true) and through dynomite (data_store: 1, one server). Load tool:
$tool_line. Medians over $BENCH_ROUNDS rounds, targets interleaved.
TEXT
    [[ -n $MC_DYNOMITE_NOTE ]] && printf '\nn/a for dynomite: %s.\n' "$MC_DYNOMITE_NOTE"
    echo
    python3 - "$MC_RESULTS" <<'PY'
import statistics, sys
from collections import defaultdict

targets = [("mc", "memcached"), ("mc_nutcracker", "nutcracker"), ("mc_dynomite", "dynomite")]
runs = defaultdict(list)
keys = []
with open(sys.argv[1]) as f:
    for line in f:
        rnd, test, depth, target, ops, avg, p50, p99 = line.rstrip("\n").split("\t")
        key = (test, int(depth))
        if key not in keys:
            keys.append(key)
        runs[key, target].append((ops, avg, p50, p99))
med = statistics.median

def num(values):
    values = [float(v) for v in values if v not in ("-", "")]
    return med(values) if values else None

def lat(rs):
    avg, p50, p99 = (num([r[i] for r in rs]) for i in (1, 2, 3))
    if p50 is not None and p99 is not None:
        return f"{p50:.2f} / {p99:.2f}"
    return f"avg {avg:.2f}" if avg is not None else "n/a"

labels = {"set": "set", "get": "get", "mget": "get, {} keys per request"}
head = ["test", "batch", "memcached ops/s", "latency ms"]
for _, name in targets[1:]:
    head += [f"{name} ops/s", "vs memcached", "latency ms"]
print("| " + " | ".join(head) + " |")
print("|" + "|".join(["---"] * 2 + ["---:"] * (len(head) - 2)) + "|")
for key in keys:
    test, depth = key
    label = labels[test].format(depth)
    unit = " (keys/s)" if test == "mget" else ""
    row = [label + unit, "P1" if depth == 1 or test == "mget" else f"P{depth}"]
    base = None
    for target, _ in targets:
        rs = runs.get((key, target))
        if not rs:
            row += ["n/a"] * (2 if target == "mc" else 3)
            continue
        ops = num([r[0] for r in rs])
        if target == "mc":
            base = ops
            row += [f"{ops:,.0f}", lat(rs)]
        else:
            row += [f"{ops:,.0f}", f"{ops / base:.2f}x" if base else "n/a", lat(rs)]
    print("| " + " | ".join(row) + " |")
print()
print("latency: p50 / p99 where the tool measures them, else the mean (avg).")
PY
}

# -------------------------------------------------------------------- main

install_missing
raise_fd_limit

read -r 'PORT[redis]' 'PORT[nutcracker]' NUTCRACKER_STATS_PORT 'PORT[dynomite]' \
    DYNOMITE_STATS_PORT DYNOMITE_PEER_PORT <<<"$(free_ports 6)"

RESULTS=$WORK/results.tsv
MEMORY=$WORK/memory.tsv
: >"$RESULTS"
: >"$MEMORY"

start_redis redis
start_nutcracker
if [[ $SKIP_DYNOMITE == 1 ]]; then
    log "SKIP_DYNOMITE=1: dynomite left out"
elif build_dynomite; then
    DYNOMITE_BUILT=1
    start_dynomite || true
fi
log "redis :${PORT[redis]}  nutcracker :${PORT[nutcracker]}  dynomite :${PORT[dynomite]} (up: ${UP[dynomite]:-0})"

for target in nutcracker dynomite; do
    measure_conns "$target"
done

started_at=$SECONDS
for ((round = 1; round <= BENCH_ROUNDS; round++)); do
    for size in $BENCH_SIZES; do
        for pipeline in $BENCH_PIPELINES; do
            for test in $BENCH_TESTS; do
                for target in "${TARGETS[@]}"; do
                    [[ ${UP[$target]:-0} == 1 ]] || continue
                    run_one "$round" "$test" "$pipeline" "$size" "$target"
                done
            done
        done
    done
done
log "load finished in $((SECONDS - started_at)) s"

for target in nutcracker dynomite; do
    if [[ -n ${CONN_RSS[$target]:-} ]] && kill -0 "${PID[$target]}" 2>/dev/null; then
        printf '%s\t%s\t%s\n' "$target" "${CONN_RSS[$target]}" \
            "$(vm_rss_kib "${PID[$target]}")" >>"$MEMORY"
    else
        printf '%s\tn/a\n' "$target" >>"$MEMORY"
    fi
done

if [[ $BENCH_CLUSTER == 1 ]]; then
    CLUSTER_RESULTS=$WORK/cluster.tsv
    CLUSTER_WARNINGS=$WORK/cluster-warnings.txt
    : >"$CLUSTER_RESULTS"
    : >"$CLUSTER_WARNINGS"
    read -r 'PORT[redis_a]' 'PORT[redis_b]' \
        'PORT[one_a]' 'PEER_PORT[one_a]' 'STATS_PORT[one_a]' \
        'PORT[one_b]' 'PEER_PORT[one_b]' 'STATS_PORT[one_b]' \
        'PORT[quorum_a]' 'PEER_PORT[quorum_a]' 'STATS_PORT[quorum_a]' \
        'PORT[quorum_b]' 'PEER_PORT[quorum_b]' 'STATS_PORT[quorum_b]' <<<"$(free_ports 14)"
    started_at=$SECONDS
    if [[ $DYNOMITE_BUILT == 1 ]]; then
        start_cluster
    else
        log "cluster: no dynomite binary; its columns show n/a"
    fi
    run_cluster
    for name in one_a one_b quorum_a quorum_b redis_a redis_b; do
        stop "$name"
    done
    log "cluster section finished in $((SECONDS - started_at)) s"
fi

if [[ $BENCH_MEMCACHED == 1 ]]; then
    MC_RESULTS=$WORK/memcached.tsv
    : >"$MC_RESULTS"
    read -r 'PORT[mc]' 'PORT[mc_nutcracker]' 'STATS_PORT[mc_nutcracker]' \
        'PORT[mc_dynomite]' 'PEER_PORT[mc_dynomite]' 'STATS_PORT[mc_dynomite]' <<<"$(free_ports 6)"
    pick_mc_tool
    log "memcached: load tool $MC_TOOL ($MC_TOOL_BIN)"
    started_at=$SECONDS
    if ! command -v memcached >/dev/null; then
        log "memcached is not installed; memcached section left out"
        BENCH_MEMCACHED=0
    elif start_memcached; then
        start_mc_nutcracker || true
        if [[ $DYNOMITE_BUILT == 1 ]]; then
            start_mc_dynomite || true
        else
            MC_DYNOMITE_NOTE="no dynomite binary"
        fi
        run_memcached
    else
        BENCH_MEMCACHED=0
    fi
    for name in mc_dynomite mc_nutcracker mc; do
        stop "$name"
    done
    log "memcached section finished in $((SECONDS - started_at)) s"
fi

conditions
report
if [[ $BENCH_CLUSTER == 1 ]]; then
    report_cluster
fi
if [[ $BENCH_MEMCACHED == 1 ]]; then
    report_memcached
fi
