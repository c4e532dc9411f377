#!/usr/bin/env bash
#
# A partition between two racks, and how long service takes to come back
# after it heals. Needs root (network namespaces, tc netem).
#
# Node A (rack1) runs in this namespace, node B (rack2) in a namespace of
# its own; each has its own redis-server on its namespace's loopback. The
# nodes talk over a veth pair with private addresses (10.77.0.1 and
# 10.77.0.2, nothing leaves the machine). A client of A runs one DC_QUORUM
# SET every 50 ms (two racks: every one needs B). After WARM seconds every
# packet on the veth pair is dropped in both directions (tc netem loss
# 100%) for PARTITION seconds, then the link is restored. Printed: how the
# DC_QUORUM requests were answered before, during (before and after A knew
# B was down) and after the partition, and the time from the heal to the
# first DC_QUORUM success. Without sch_netem in the kernel the partition is
# made by taking B's end of the veth pair down: A's end keeps its address
# and route and loses carrier, so A's packets are dropped silently.
#
# Usage:
#   sudo contrib/faults/partition.sh                 # 60 s partition
#   PARTITION=20 sudo contrib/faults/partition.sh
#
# Environment: PARTITION [60] s, WARM [5] s, AFTER [15] s, TIMEOUT [5000],
# BIN [target/release/dynomite], BASE_PORT [17600], OUT [a new temp folder].
# The namespace, the veth pair and every process are removed on exit.

set -u
cd "$(dirname "$0")/../.."
PARTITION=${PARTITION:-60}
WARM=${WARM:-5}
AFTER=${AFTER:-15}
TIMEOUT=${TIMEOUT:-5000}
BASE=${BASE_PORT:-17600}
BIN=$(realpath "${BIN:-target/release/dynomite}")
OUT=${OUT:-$(mktemp -d /tmp/partition.XXXXXX)}
NS=dynpart$$
VA=vpa$$ VB=vpb$$
IPA=10.77.0.1 IPB=10.77.0.2
mkdir -p "$OUT"
[[ $(id -u) == 0 ]] || { echo "needs root (ip netns, tc)" >&2; exit 1; }
[[ -x $BIN ]] || { echo "no binary $BIN (cargo build --release)" >&2; exit 1; }
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    wait 2>/dev/null
    ip link del "$VA" 2>/dev/null
    ip netns del "$NS" 2>/dev/null
}
trap cleanup EXIT

ip netns add "$NS"
ip link add "$VA" type veth peer name "$VB"
ip link set "$VB" netns "$NS"
ip addr add $IPA/30 dev "$VA"
ip link set "$VA" up
ip netns exec "$NS" ip addr add $IPB/30 dev "$VB"
ip netns exec "$NS" ip link set "$VB" up
ip netns exec "$NS" ip link set lo up

RA=$((BASE + 1)) RB=$((BASE + 2)) A=$((BASE + 10)) B=$((BASE + 20))
redis-server --port $RA --save '' --appendonly no >"$OUT/redis-a.log" 2>&1 &
PIDS+=($!)
ip netns exec "$NS" redis-server --port $RB --save '' --appendonly no >"$OUT/redis-b.log" 2>&1 &
PIDS+=($!)

conf() { # NAME CLIENT_ADDR PEER_ADDR STATS_ADDR RACK REDIS SEED
    cat >"$OUT/$1.yml" <<YAML
dyn_o_mite:
  listen: $2
  dyn_listen: $3
  stats_listen: $4
  datacenter: dc1
  rack: $5
  tokens: '0'
  timeout: $TIMEOUT
  servers:
  - 127.0.0.1:$6:1
  dyn_seeds:
  - $7
YAML
}
conf a 127.0.0.1:$A $IPA:$((A + 1)) 127.0.0.1:$((A + 2)) rack1 $RA "$IPB:$((B + 1)):rack2:dc1:0"
conf b 127.0.0.1:$B $IPB:$((B + 1)) 127.0.0.1:$((B + 2)) rack2 $RB "$IPA:$((A + 1)):rack1:dc1:0"
"$BIN" -c "$OUT/a.yml" -o "$OUT/a.log" &
PIDS+=($!)
ip netns exec "$NS" "$BIN" -c "$OUT/b.yml" -o "$OUT/b.log" &
PIDS+=($!)

for _ in $(seq 100); do
    redis-cli -p $A PING 2>/dev/null | grep -q PONG && break
    sleep 0.1
done

python3 - "$A" "$((A + 2))" "$WARM" "$PARTITION" "$AFTER" "$VA" "$NS" "$VB" <<'PY'
import json, socket, subprocess, sys, threading, time, urllib.request
port, stats, warm, part, after, va, ns, vb = sys.argv[1:]
port, stats, warm, part, after = int(port), int(stats), float(warm), float(part), float(after)

def cmd(s, *args):
    out = b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)
    s.sendall(out)
    buf = b""
    while b"\r\n" not in buf:
        buf += s.recv(4096)
    return buf.split(b"\r\n")[0]

def peer_state():
    with urllib.request.urlopen("http://127.0.0.1:%d/info" % stats, timeout=5) as r:
        d = json.loads(r.read())
    return ",".join(p["state"] for p in d.get("peers", {}).values())

# Wait until A sees B up and a quorum write succeeds.
s = socket.create_connection(("127.0.0.1", port), timeout=60)
assert cmd(s, b"DYNO_CONFIG:CONN_CONSISTENCY", b"DC_QUORUM") == b"+OK"
t_end = time.time() + 30
while time.time() < t_end and cmd(s, b"SET", b"p", b"0") != b"+OK":
    time.sleep(0.2)

events = []  # (start, end, reply, B's state at the end)
state = ["?"]
def watch():
    while not done.is_set():
        try:
            state[0] = peer_state()
        except Exception:
            pass
        time.sleep(0.05)
done = threading.Event()
threading.Thread(target=watch, daemon=True).start()

def tc(add):
    # With netem: drop every packet both ways. Without it (a kernel without
    # sch_netem): take B's end of the veth pair down; A's end keeps its
    # address and route and loses carrier, so what A sends is dropped
    # silently, as in a partition.
    verb = "add" if add else "del"
    extra = ["netem", "loss", "100%"] if add else []
    r = subprocess.run(["tc", "qdisc", verb, "dev", va, "root"] + extra, capture_output=True)
    if r.returncode == 0:
        subprocess.run(["ip", "netns", "exec", ns, "tc", "qdisc", verb, "dev", vb, "root"] + extra,
                       check=True)
        return
    subprocess.run(["ip", "netns", "exec", ns, "ip", "link", "set", vb, "down" if add else "up"],
                   check=True)

t0 = time.time()
cut = heal = None
i = 0
while True:
    now = time.time()
    if cut is None and now - t0 >= warm:
        tc(True); cut = time.time()
    if cut is not None and heal is None and now - cut >= part:
        tc(False); heal = time.time()
    if heal is not None and now - heal >= after:
        break
    i += 1
    start = time.time()
    r = cmd(s, b"SET", b"p%d" % i, b"v")
    events.append((start, time.time(), r.decode(), state[0]))
    time.sleep(0.05)
done.set()

def summary(name, evs):
    if not evs:
        print("| %s | 0 | | | |" % name); return
    ok = sum(1 for e in evs if e[2] == "+OK")
    lat = sorted((e[1] - e[0]) * 1000 for e in evs)
    slow = sum(1 for l in lat if l > 100)
    print("| %s | %d | %d | %d | %.0f ms |" % (name, len(evs), ok, slow, lat[-1]))

before = [e for e in events if e[0] < cut]
during = [e for e in events if cut <= e[0] < heal]
known = next((e[1] for e in during if e[3] == "down"), None)
d1 = [e for e in during if known is None or e[0] < known]
d2 = [e for e in during if known is not None and e[0] >= known]
afterv = [e for e in events if e[0] >= heal]
back = next((e[0] for e in afterv if e[2] == "+OK"), None)
print()
print("| DC_QUORUM SETs through A | sent | ok | slower than 100 ms | slowest |")
print("|---|---:|---:|---:|---:|")
summary("before the partition", before)
summary("partition, before A knew B down", d1)
summary("partition, B known down", d2)
summary("after the heal", afterv)
print()
print("partition %.0f s; B known down %.1f s after the cut; first DC_QUORUM success %.2f s after the heal" % (
    part, (known - cut) if known else -1, (back - heal) if back else -1))
errs = sorted({e[2] for e in during})
print("errors during the partition:", errs)
PY
echo
grep -E "is down|is up|is suspect" "$OUT/a.log" | tail -4
