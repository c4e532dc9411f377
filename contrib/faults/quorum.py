#!/usr/bin/env python3
"""Three racks at DC_QUORUM under faults (driven by contrib/faults/quorum.sh).

Three racks of one node each (A, B, C, token 0: every key has a replica in
each rack), reads and writes at DC_QUORUM, hints in memory, read repair and
warmup_on_start on. A writer sends RATE SET/s through A for the whole run
(new keys, and every fifth write a key written before) and records every
acknowledged write. Two faults, one after the other, in the order ORDER:

  b-down    B's dynomite killed with -9, restarted DOWN seconds later
  c-empty   C's redis killed and restarted empty (no persistence); for
            SETTLE seconds a reader at DC_QUORUM through C reads keys
            acknowledged before, counting nil and stale answers

each followed by SETTLE seconds. Then, writer stopped: every acknowledged key
read at DC_QUORUM through A, B and C (nil and stale answers counted), and
from each replica's redis directly (missing and stale counted).

The process handling (start, stop, Conn, enc) and the writer are
handoff.py's; loopback
only; every process started is stopped by pid.
"""

import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import handoff as h  # noqa: E402

BASE = int(os.environ.get("BASE_PORT", "17800"))
RATE = int(os.environ.get("RATE", "1500"))
DOWN = float(os.environ.get("DOWN", "10"))
SETTLE = float(os.environ.get("SETTLE", "20"))
WARM = float(os.environ.get("WARM", "3"))
ORDER = os.environ.get("ORDER", "b-down c-empty").split()
TIMEOUT = int(os.environ.get("TIMEOUT", "5000"))

NODES = {"a": ("rack1", BASE + 10, BASE + 1),
         "b": ("rack2", BASE + 15, BASE + 2),
         "c": ("rack3", BASE + 20, BASE + 3)}


def start_redis(name):
    port = NODES[name][2]
    h.start("redis-" + name, ["redis-server", "--port", str(port), "--save", "",
                              "--appendonly", "no"],
            os.path.join(h.OUT, "redis-" + name + ".log"))
    h.wait_ping(port, "redis-" + name)


def start_node(name):
    rack, port, redis = NODES[name]
    seeds = "".join(f"  - 127.0.0.1:{p + 1}:{r}:dc1:0\n"
                    for n, (r, p, _) in NODES.items() if n != name)
    conf = os.path.join(h.OUT, "node-" + name + ".yml")
    with open(conf, "w") as f:
        f.write(f"""dyn_o_mite:
  listen: 127.0.0.1:{port}
  dyn_listen: 127.0.0.1:{port + 1}
  stats_listen: 127.0.0.1:{port + 2}
  datacenter: dc1
  rack: {rack}
  tokens: '0'
  timeout: {TIMEOUT}
  read_consistency: DC_QUORUM
  write_consistency: DC_QUORUM
  warmup_on_start: true
  servers:
  - 127.0.0.1:{redis}:1
  dyn_seeds:
{seeds}""")
    h.start("node-" + name, [h.BIN, "-c", conf, "-o", os.path.join(h.OUT, "node-" + name + ".log")],
            os.devnull)
    h.wait_ping(port, "node-" + name)


def judge(port, snapshot):
    """(nil, stale) answers for the keys of `snapshot` (key -> index of the
    value acknowledged then) read through `port`: stale is a value older
    than the snapshot's (or one never written)."""
    keys = list(snapshot)
    c = h.Conn(port, 30)
    got = []
    for j in range(0, len(keys), 500):
        got += c.pipeline([h.enc("GET", k) for k in keys[j:j + 500]])
    with h.lock:
        ok = {k: h.acked[k][snapshot[k]:] + h.failed.get(k, []) for k in keys}
    nil = stale = 0
    for k, g in zip(keys, got):
        if g is None:
            nil += 1
        elif not isinstance(g, bytes) or g.decode(errors="replace") not in ok[k]:
            stale += 1
    return nil, stale


def snapshot():
    with h.lock:
        return {k: len(v) - 1 for k, v in h.acked.items()}


def fault(name):
    if name == "b-down":
        h.stop("node-b")
        time.sleep(DOWN)
        start_node("b")
        time.sleep(SETTLE)
        return {"fault": name}
    # c-empty: C's redis comes back with nothing; read through C meanwhile.
    snap = snapshot()
    sample = dict(list(snap.items())[:: max(1, len(snap) // 500)])
    h.stop("redis-c")
    start_redis("c")
    nil = stale = reads = 0
    end = time.monotonic() + SETTLE
    while time.monotonic() < end:
        try:
            n, s = judge(NODES["c"][1], sample)
        except OSError:
            continue
        nil, stale, reads = nil + n, stale + s, reads + len(sample)
        time.sleep(0.5)
    return {"fault": name, "reads_through_c": reads, "nil": nil, "stale": stale}


def run(order):
    try:
        for n in NODES:
            start_redis(n)
        for n in NODES:
            start_node(n)
        time.sleep(1)
        h.running.set()
        w = threading.Thread(target=h.writer, args=(NODES["a"][1], "q"), daemon=True)
        w.start()
        time.sleep(WARM)
        faults = [fault(f) for f in order]
        h.running.clear()
        w.join()
        time.sleep(2)
        final = snapshot()
        through = {n.upper(): judge(NODES[n][1], final) for n in NODES}
        replicas = {n.upper(): judge(NODES[n][2], final) for n in NODES}
        return {"order": order, "writes_ok": h.stats["ok"], "writes_err": h.stats["err"],
                "keys": len(final), "faults": faults, "through": through,
                "replicas": replicas,
                "first_errors": [e.decode(errors="replace") if e else None
                                 for e in h.stats["errors"]]}
    finally:
        h.cleanup()


if __name__ == "__main__":
    print(json.dumps(run(ORDER)))
