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
# Usage:
#   contrib/bench/bench.sh > bench.md           # progress goes to stderr
#   BENCH_REQUESTS=50000 contrib/bench/bench.sh  # quick run
#   SKIP_DYNOMITE=1 contrib/bench/bench.sh       # redis and nutcracker only
#
# On 2 cores the default run takes about 12 minutes with all three targets, the
# quick run about 2. If dynomite fails to build or start, or dies during the
# load, its columns show n/a and the rest of the run goes on.
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

TARGETS=(redis nutcracker dynomite)
declare -A PORT=() PID=() UP=() CONN_RSS=()

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

install_missing() {
    local need=()
    command -v redis-server >/dev/null || need+=(redis-server)
    if ! command -v redis-benchmark >/dev/null || ! command -v redis-cli >/dev/null; then
        need+=(redis-tools)
    fi
    command -v nutcracker >/dev/null || need+=(nutcracker)
    command -v python3 >/dev/null || need+=(python3)
    ((${#need[@]} == 0)) && return 0

    local sudo=()
    if [[ $(id -u) != 0 ]]; then
        command -v sudo >/dev/null || die "need root or sudo to install: ${need[*]}"
        sudo=(sudo)
    fi
    log "installing ${need[*]}"
    "${sudo[@]}" apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${need[@]}" >&2
    # The packages start their own services; this script never uses them.
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

start_redis() {
    redis-server --bind 127.0.0.1 --port "${PORT[redis]}" --save '' \
        --appendonly no --daemonize no --maxclients 10000 --dir "$WORK" \
        --logfile "$WORK/redis.log" >/dev/null 2>&1 &
    PID[redis]=$!
    STARTED+=("$!")
    wait_ready redis || die "redis-server did not start; see $WORK/redis.log"
    UP[redis]=1
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

# run_one ROUND TEST PIPELINE SIZE TARGET: one redis-benchmark run, appended
# to $RESULTS as a tab-separated line.
run_one() {
    local round=$1 test=$2 pipeline=$3 size=$4 target=$5
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
        "$size" "$target" "$rps" "$p50" "$p99" "$((after - before))" "$requests" >>"$RESULTS"
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

# ------------------------------------------------------------------ report

conditions() {
    local cpu kernel dyn_version="n/a" commit
    cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
    kernel=$(uname -sr)
    commit=$(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo unknown)
    if [[ ${UP[dynomite]:-0} == 1 ]]; then
        dyn_version=$("$DYNOMITE_BIN" -V 2>&1 | head -n 1)
        [[ -n $dyn_version ]] || dyn_version="(no version line)"
    fi
    cat <<EOF
## Benchmark: redis, nutcracker and dynomite

- Date: $(date -u '+%Y-%m-%d %H:%M UTC'); host: $kernel, ${cpu:-unknown CPU}, $(nproc) cores.
  redis-benchmark, redis-server and the proxy share these cores.
- $(redis-server --version | cut -d' ' -f1-3); $(redis-benchmark --version);
  $(nutcracker --version 2>&1 | head -n 1 | sed 's/^This is //'); dynomite: $dyn_version (commit $commit).
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

# -------------------------------------------------------------------- main

install_missing
raise_fd_limit

read -r 'PORT[redis]' 'PORT[nutcracker]' NUTCRACKER_STATS_PORT 'PORT[dynomite]' \
    DYNOMITE_STATS_PORT DYNOMITE_PEER_PORT <<<"$(free_ports 6)"

RESULTS=$WORK/results.tsv
MEMORY=$WORK/memory.tsv
: >"$RESULTS"
: >"$MEMORY"

start_redis
start_nutcracker
if [[ $SKIP_DYNOMITE == 1 ]]; then
    log "SKIP_DYNOMITE=1: dynomite left out"
elif build_dynomite; then
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

conditions
report
