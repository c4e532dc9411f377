#!/usr/bin/env bash
#
# Hinted handoff under load: two racks of one node each at DC_ONE (A in
# rack1, B in rack2, both token 0, so every write through A is copied to B).
# A writer sends RATE SET/s through A for the whole run; B's redis is killed
# (-9) and restarted on its append-only file, B's dynomite is killed (-9) and
# restarted, and B's redis is frozen (SIGSTOP) and thawed, each for DOWN
# seconds, with up to SETTLE seconds after each return. Printed: per phase,
# the writes acknowledged, the time until B held every write acknowledged
# before its return, and A's hint figures; at the end, the acknowledged keys
# missing or stale in A's and B's redis. See contrib/faults/handoff.py.
#
# Usage:
#   contrib/faults/handoff.sh                       # 15 s faults
#   DOWN=5 SETTLE=20 contrib/faults/handoff.sh
#   PHASES="node-kill" contrib/faults/handoff.sh
#
# Environment: RATE [1500] SET/s, DOWN [15] s, SETTLE [30] s, WARM [3] s,
# PHASES ["redis-kill node-kill redis-stop"], TIMEOUT [5000] (the nodes'
# `timeout:`), BIN [target/release/dynomite, built when missing], BASE_PORT
# [17700] (ports BASE_PORT .. +20 on 127.0.0.1), OUT [a new temporary
# folder: configurations, logs, hint files, B's append-only file].
# Everything it starts is stopped by pid when it exits. Loopback only.

set -u
cd "$(dirname "$0")/../.."
export BIN=${BIN:-target/release/dynomite}
export OUT=${OUT:-$(mktemp -d /tmp/handoff.XXXXXX)}
mkdir -p "$OUT"
if [[ ! -x $BIN ]]; then
    cargo build --release --bin dynomite >/dev/null 2>&1 || { echo "build failed" >&2; exit 1; }
fi
echo "output in $OUT"
python3 contrib/faults/handoff.py >"$OUT/result.json" || { echo "run failed; see $OUT" >&2; exit 1; }
python3 - "$OUT/result.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print()
print("writer: %d SET/s for the whole run, %d writes acknowledged, %d errors; %d keys" % (
    r["rate"], r["writes_ok"], r["writes_err"], r["keys"]))
print()
print("| fault (%g s) | writes acknowledged before the return | hints made / replayed / dropped | B has every earlier write after | hints drained after |" % r["down_s"])
print("|---|---:|---:|---:|---:|")
names = {"redis-kill": "B's redis killed -9, restarted",
         "node-kill": "B's dynomite killed -9, restarted",
         "redis-stop": "B's redis stopped (SIGSTOP), resumed"}
for p in r["phases"]:
    conv = "%.1f s" % p["converged_s"] if p["converged_s"] is not None else "not within the settle time (%d behind)" % p["behind_at_end"]
    drained = "%.1f s" % p["drained_s"] if p["drained_s"] is not None else "not drained"
    print("| %s | %d | %d / %d / %d | %s | %s |" % (
        names.get(p["phase"], p["phase"]), p["acked_before_return"],
        p["hinted"], p["replayed"], p["dropped"], conv, drained))
print()
print("| replica | acknowledged keys missing | stale (older value) |")
print("|---|---:|---:|")
for name in ("A", "B"):
    nil, stale = r["missing"][name]
    print("| %s | %d | %d |" % (name, nil, stale))
if r["first_errors"]:
    print("\nfirst write errors:", r["first_errors"])
PY
