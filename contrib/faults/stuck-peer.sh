#!/usr/bin/env bash
#
# A peer that never reads: two racks of one node each (node A in rack1,
# node B in rack2, both token 0, so every write through A is copied to B),
# each in front of its own redis-server. After a short warm-up B's dynomite
# is frozen with SIGSTOP: its kernel keeps accepting connections and
# buffering bytes, the process reads nothing. For DURATION seconds
# contrib/faults/load.py drives A with a writer at RATE SET/s (DC_ONE), a
# reader of A's own keys (100 GET/s, DC_ONE) and a DC_QUORUM reader
# (5 GET/s), and samples A's RSS, its /info fault figures and what the
# clients saw every 5 s. Then B is thawed (SIGCONT) and the time until A
# reports it up again, and until a new write lands in B's redis, is taken.
#
# Usage:
#   contrib/faults/stuck-peer.sh                  # 5 minutes
#   DURATION=120 contrib/faults/stuck-peer.sh     # 2 minutes
#
# Environment: DURATION [300] seconds, RATE [1500] SET/s, TIMEOUT [5000]
# (the nodes' `timeout:`), MAX_MSGS [100000], BIN [target/release/dynomite,
# built when missing], BASE_PORT [17500] (ports BASE_PORT .. +20 on
# 127.0.0.1), OUT [a new temporary folder: samples.jsonl, logs, configs].
# Everything it starts is stopped by pid when it exits. Loopback only.

set -u
cd "$(dirname "$0")/../.."
DURATION=${DURATION:-300}
RATE=${RATE:-1500}
TIMEOUT=${TIMEOUT:-5000}
MAX_MSGS=${MAX_MSGS:-100000}
BASE=${BASE_PORT:-17500}
BIN=${BIN:-target/release/dynomite}
OUT=${OUT:-$(mktemp -d /tmp/stuck-peer.XXXXXX)}
mkdir -p "$OUT"
if [[ ! -x $BIN ]]; then
    cargo build --release --bin dynomite >/dev/null 2>&1 || { echo "build failed" >&2; exit 1; }
fi
PIDS=()
B_PID=
cleanup() {
    [[ -n $B_PID ]] && kill -CONT "$B_PID" 2>/dev/null
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    wait 2>/dev/null
}
trap cleanup EXIT

RA=$((BASE + 1)) RB=$((BASE + 2))
redis-server --port $RA --save '' --appendonly no >"$OUT/redis-a.log" 2>&1 &
PIDS+=($!)
redis-server --port $RB --save '' --appendonly no >"$OUT/redis-b.log" 2>&1 &
PIDS+=($!)

# node NAME PORT RACK REDIS OTHER_PEER_PORT OTHER_RACK
node() {
    cat >"$OUT/$1.yml" <<YAML
dyn_o_mite:
  listen: 127.0.0.1:$2
  dyn_listen: 127.0.0.1:$(($2 + 1))
  stats_listen: 127.0.0.1:$(($2 + 2))
  datacenter: dc1
  rack: $3
  tokens: '0'
  timeout: $TIMEOUT
  max_msgs: $MAX_MSGS
  servers:
  - 127.0.0.1:$4:1
  dyn_seeds:
  - 127.0.0.1:$(($5 + 1)):$6:dc1:0
YAML
    "$BIN" -c "$OUT/$1.yml" -o "$OUT/$1.log" &
    PIDS+=($!)
}
A=$((BASE + 10)) B=$((BASE + 15))
node a $A rack1 $RA $B rack2
A_PID=$!
node b $B rack2 $RB $A rack1
B_PID=$!

ping() { redis-cli -p "$1" PING 2>/dev/null | grep -q PONG; }
for _ in $(seq 100); do ping $A && ping $B && break; sleep 0.1; done
ping $A && ping $B || { echo "nodes did not start; see $OUT" >&2; exit 1; }
# Warm-up: both racks hold a key written through A.
for _ in $(seq 100); do
    redis-cli -p $A SET warm 1 >/dev/null
    [[ $(redis-cli -p $RB GET warm) == 1 ]] && break
    sleep 0.1
done

echo "node A pid $A_PID, node B pid $B_PID; output in $OUT"
RSS_IDLE=$(awk '/VmRSS/ {print $2}' "/proc/$A_PID/status")
kill -STOP "$B_PID"
STOPPED_AT=$(date +%s.%N)
python3 contrib/faults/load.py --port $A --stats-port $((A + 2)) --pid "$A_PID" \
    --rate "$RATE" --seconds "$DURATION" >"$OUT/samples.jsonl"

# Thaw B: how long until A routes to it again and a write lands there.
kill -CONT "$B_PID"
THAWED=$(date +%s.%N)
UP=
for _ in $(seq 600); do
    if curl -s "http://127.0.0.1:$((A + 2))/info" | python3 -c '
import json, sys
d = json.load(sys.stdin)
sys.exit(0 if all(p["state"] == "up" for p in d.get("peers", {}).values()) else 1)'; then
        UP=$(date +%s.%N)
        break
    fi
    sleep 0.1
done
LANDED=
for i in $(seq 600); do
    redis-cli -p $A SET after "$i" >/dev/null
    if [[ $(redis-cli -p $RB GET after) == "$i" ]]; then LANDED=$(date +%s.%N); break; fi
    sleep 0.1
done

python3 - "$OUT/samples.jsonl" "$RSS_IDLE" "$THAWED" "${UP:-0}" "${LANDED:-0}" "$RATE" "$DURATION" <<'PY'
import json, sys
path, rss_idle, thawed, up, landed, rate, duration = sys.argv[1:]
lines = [json.loads(l) for l in open(path)]
final = lines[-1]
samples = [l for l in lines if not l.get("final")]
c = final["clients"]
f = final["faults"]
print()
print("| t (s) | RSS (MiB) | state of B | queued for B (msgs / KiB) | writes ok / err | peer_dropped_requests |")
print("|---:|---:|---|---:|---:|---:|")
for s in samples[:: max(1, len(samples) // 12)] + samples[-1:]:
    print("| %d | %.1f | %s | %d / %d | %d / %d | %d |" % (
        s["t"], s["rss_kib"] / 1024, ",".join(s["peer_states"].values()),
        s["queued_msgs"], s["queued_bytes"] // 1024,
        s["clients"]["writes_ok"], s["clients"]["writes_err"], s["peer_dropped_requests"]))
print()
rss = [s["rss_kib"] for s in samples]
print("| figure | value |")
print("|---|---:|")
print("| writer rate, duration | %s SET/s, %s s |" % (rate, duration))
print("| RSS before the stop / max / last | %.1f / %.1f / %.1f MiB |" % (
    int(rss_idle) / 1024, max(rss) / 1024, rss[-1] / 1024))
print("| DC_ONE writes ok / errors (max latency) | %d / %d (%.0f ms) |" % (
    c["writes_ok"], c["writes_err"], c["writes_max_ms"]))
print("| DC_ONE reads of A's redis ok / errors (max latency) | %d / %d (%.0f ms) |" % (
    c["reads_ok"], c["reads_err"], c["reads_max_ms"]))
print("| DC_QUORUM reads ok / errors (slowest error; errors over 100 ms) | %d / %d (%.0f ms; %d) |" % (
    c["quorum_ok"], c["quorum_err"], c["quorum_err_max_ms"], c["quorum_err_over_100ms"]))
print("| peer_dropped_requests / peer_timedout_requests | %d / %d |" % (
    final["peer_dropped_requests"], final["peer_timedout_requests"]))
for k in ["peer_undeliverable", "peer_queue_full", "peer_fail_fast", "peer_stalls",
          "peer_state_changes", "peer_probes"]:
    print("| %s | %d |" % (k, f.get(k, 0)))
up, landed, thawed = float(up), float(landed), float(thawed)
print("| B reported up after SIGCONT | %s |" % ("%.1f s" % (up - thawed) if up else "never"))
print("| first write through A in B's redis after SIGCONT | %s |" % (
    "%.1f s" % (landed - thawed) if landed else "never"))
if c["first_errors"]:
    print("\nfirst client errors:", c["first_errors"])
PY
echo
echo "A's log lines about B:"
grep -E "is down|is up|is suspect|not delivered|kept as a hint|no progress|drained" "$OUT/a.log" | head -8
echo "($(grep -c -E 'not delivered|kept as a hint|timed out' "$OUT/a.log") fault lines in A's log over the run)"
