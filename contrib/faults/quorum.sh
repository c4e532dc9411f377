#!/usr/bin/env bash
#
# Three racks at DC_QUORUM: B's node down, and C's redis restarted empty, in
# both orders, with a writer at RATE SET/s through A the whole time. Printed:
# per order, the writes acknowledged, the reads through C while its redis was
# empty (nil and stale answers), and at the end every acknowledged key read
# at DC_QUORUM through each node and from each replica's redis (nil and stale
# counted). See contrib/faults/quorum.py.
#
# Usage:
#   contrib/faults/quorum.sh
#   DOWN=5 SETTLE=10 contrib/faults/quorum.sh
#
# Environment: RATE [1500] SET/s, DOWN [10] s, SETTLE [20] s, WARM [3] s,
# TIMEOUT [5000], BIN [target/release/dynomite, built when missing],
# BASE_PORT [17800] (ports BASE_PORT .. +25 on 127.0.0.1), OUT [a new
# temporary folder]. Everything it starts is stopped by pid when it exits.

set -u
cd "$(dirname "$0")/../.."
export BIN=${BIN:-target/release/dynomite}
export OUT=${OUT:-$(mktemp -d /tmp/quorum.XXXXXX)}
mkdir -p "$OUT"
if [[ ! -x $BIN ]]; then
    cargo build --release --bin dynomite >/dev/null 2>&1 || { echo "build failed" >&2; exit 1; }
fi
echo "output in $OUT"
for order in "b-down c-empty" "c-empty b-down"; do
    name=${order// /-then-}
    mkdir -p "$OUT/$name"
    OUT="$OUT/$name" ORDER="$order" python3 contrib/faults/quorum.py >"$OUT/$name.json" ||
        { echo "run failed; see $OUT/$name" >&2; exit 1; }
done
python3 - "$OUT" <<'PY'
import json, os, sys
out = sys.argv[1]
print()
print("| order | writes acknowledged / failed | reads through C while its redis was empty: nil / stale | nil / stale at DC_QUORUM through A, B, C | missing / stale in the redis of A, B, C |")
print("|---|---:|---:|---:|---:|")
for name in ("b-down-then-c-empty", "c-empty-then-b-down"):
    r = json.load(open(os.path.join(out, name + ".json")))
    c = [f for f in r["faults"] if f["fault"] == "c-empty"][0]
    through = ", ".join("%d / %d" % tuple(r["through"][n]) for n in "ABC")
    replicas = ", ".join("%d / %d" % tuple(r["replicas"][n]) for n in "ABC")
    print("| %s | %d / %d | %d of %d: %d / %d | %s | %s |" % (
        " then ".join(r["order"]), r["writes_ok"], r["writes_err"],
        c["nil"] + c["stale"], c["reads_through_c"], c["nil"], c["stale"], through, replicas))
PY
