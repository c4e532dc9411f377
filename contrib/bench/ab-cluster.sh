#!/usr/bin/env bash
#
# A/B of two dynomite binaries in a two-rack cluster, interleaved in one run:
# two redis-servers, and for each binary a pair of nodes (rack1 = node A,
# rack2 = node B, both token 0, so every key is in both racks) at one
# consistency level. redis-benchmark (-P 16, 50 clients) runs SET and GET
# through node A of each pair in turn, ROUNDS times, and prints one line per
# run: requests per second and the CPU ticks (1/100 s) both nodes used.
#
# Usage:
#   contrib/bench/ab-cluster.sh OLD_BINARY NEW_BINARY
#   LEVEL=DC_QUORUM ROUNDS=6 contrib/bench/ab-cluster.sh old/dynomite new/dynomite
#
# Environment: LEVEL [DC_ONE], ROUNDS [4], REQUESTS [200000], BASE_PORT
# [17000] (ports BASE_PORT .. BASE_PORT+250 on 127.0.0.1 are used).
# Everything it starts is stopped by pid when it exits.

set -u
OLD=${1:?old binary}
NEW=${2:?new binary}
LEVEL=${LEVEL:-DC_ONE}
ROUNDS=${ROUNDS:-4}
REQUESTS=${REQUESTS:-200000}
BASE=${BASE_PORT:-17000}
WORK=$(mktemp -d)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    wait 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT

redis-server --port $((BASE + 1)) --save '' --appendonly no >"$WORK/ra.log" 2>&1 &
PIDS+=($!)
redis-server --port $((BASE + 2)) --save '' --appendonly no >"$WORK/rb.log" 2>&1 &
PIDS+=($!)
sleep 0.5

declare -A NODE_PID
# start_pair BINARY TAG PORT: node A listens on PORT, node B on PORT+10.
start_pair() {
    local bin=$1 tag=$2 port=$3 side me other rack orack redis
    for side in a b; do
        if [[ $side == a ]]; then
            me=$port other=$((port + 10)) rack=rack1 orack=rack2 redis=$((BASE + 1))
        else
            me=$((port + 10)) other=$port rack=rack2 orack=rack1 redis=$((BASE + 2))
        fi
        cat >"$WORK/$tag$side.yml" <<YAML
dyn_o_mite:
  listen: 127.0.0.1:$me
  dyn_listen: 127.0.0.1:$((me + 1))
  stats_listen: 127.0.0.1:$((me + 2))
  datacenter: dc1
  rack: $rack
  tokens: '0'
  servers:
  - 127.0.0.1:$redis:1
  write_consistency: $LEVEL
  read_consistency: $LEVEL
  dyn_seeds:
  - 127.0.0.1:$((other + 1)):$orack:dc1:0
YAML
        "$bin" -c "$WORK/$tag$side.yml" -o "$WORK/$tag$side.log" &
        PIDS+=($!)
        NODE_PID[$tag$side]=$!
    done
}

start_pair "$OLD" old $((BASE + 100))
start_pair "$NEW" new $((BASE + 200))
sleep 2
cpu() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
echo "round binary test req/s cpu_ticks_A cpu_ticks_B ($LEVEL, -P 16)"
for ((round = 1; round <= ROUNDS; round++)); do
    for tag in old new; do
        port=$((BASE + 100)); [[ $tag == new ]] && port=$((BASE + 200))
        a=${NODE_PID[${tag}a]} b=${NODE_PID[${tag}b]}
        for test in set get; do
            ca=$(cpu "$a") cb=$(cpu "$b")
            rps=$(redis-benchmark -p "$port" -c 50 -n "$REQUESTS" -P 16 -r 100000 -t "$test" -q 2>/dev/null |
                tr '\r' '\n' | grep -i 'requests per second' | tail -1 | awk '{ print $2 }')
            echo "$round $tag $test $rps $(($(cpu "$a") - ca)) $(($(cpu "$b") - cb))"
        done
    done
done
