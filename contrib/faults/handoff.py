#!/usr/bin/env python3
"""Hinted handoff under load (driven by contrib/faults/handoff.sh).

Two racks of one node each (A in rack1, B in rack2, both token 0: every
write through A is copied to B), DC_ONE. A writer sends RATE SET/s through
A for the whole run (new keys, and every fifth write a key written before,
so that order matters) and records every acknowledged write. Phases, each
followed by up to SETTLE seconds of normal running:

  redis-kill   B's redis killed with -9, restarted DOWN seconds later on
               the same append-only file (appendfsync always: nothing it
               acknowledged is lost by the kill)
  node-kill    B's dynomite killed with -9, restarted DOWN seconds later
  redis-stop   B's redis frozen (SIGSTOP) for DOWN seconds, then SIGCONT

After each return: the time until B's redis holds every write acknowledged
before the return (with that value or a later acknowledged one), and A's
hint figures. At the end: every acknowledged key read from A's and B's
redis, missing and stale counted. Loopback only; every process started is
stopped by pid.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request

BIN = os.environ.get("BIN", "target/release/dynomite")
OUT = os.environ["OUT"]
BASE = int(os.environ.get("BASE_PORT", "17700"))
RATE = int(os.environ.get("RATE", "1500"))
DOWN = float(os.environ.get("DOWN", "15"))
SETTLE = float(os.environ.get("SETTLE", "30"))
WARM = float(os.environ.get("WARM", "3"))
PHASES = os.environ.get("PHASES", "redis-kill node-kill redis-stop").split()
TIMEOUT = int(os.environ.get("TIMEOUT", "5000"))

procs = {}


def start(name, args, log):
    procs[name] = subprocess.Popen(args, stdout=open(log, "ab"), stderr=subprocess.STDOUT)


def stop(name, sig=signal.SIGKILL):
    p = procs.get(name)
    if p and p.poll() is None:
        try:
            os.kill(p.pid, signal.SIGCONT)
        except OSError:
            pass
        p.send_signal(sig)
        p.wait()


def cleanup():
    for name in list(procs):
        stop(name)


def enc(*args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


class Conn:
    def __init__(self, port, timeout=10):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""

    def _line(self):
        while b"\r\n" not in self.buf:
            d = self.s.recv(65536)
            if not d:
                raise ConnectionError("closed")
            self.buf += d
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def reply(self):
        line = self._line()
        if line[:1] == b"$":
            n = int(line[1:])
            if n < 0:
                return None
            while len(self.buf) < n + 2:
                d = self.s.recv(65536)
                if not d:
                    raise ConnectionError("closed")
                self.buf += d
            v, self.buf = self.buf[:n], self.buf[n + 2:]
            return v
        return line

    def pipeline(self, cmds):
        self.s.sendall(b"".join(cmds))
        return [self.reply() for _ in cmds]


def ping(port):
    try:
        return Conn(port, 1).pipeline([enc("PING")])[0] == b"+PONG"
    except OSError:
        return False


def wait_ping(port, what):
    for _ in range(200):
        if ping(port):
            return
        time.sleep(0.05)
    raise SystemExit(f"{what} on :{port} did not start; see {OUT}")


RA, RB = BASE + 1, BASE + 2
A, B = BASE + 10, BASE + 15
AOF_DIR = os.path.join(OUT, "redis-b")


def start_redis(name, port):
    args = ["redis-server", "--port", str(port), "--save", ""]
    if name == "redis-b":
        os.makedirs(AOF_DIR, exist_ok=True)
        args += ["--dir", AOF_DIR, "--appendonly", "yes", "--appendfsync", "always"]
    else:
        args += ["--appendonly", "no"]
    start(name, args, os.path.join(OUT, name + ".log"))
    wait_ping(port, name)


def start_node(name, port, rack, redis, other, other_rack):
    conf = os.path.join(OUT, name + ".yml")
    with open(conf, "w") as f:
        f.write(f"""dyn_o_mite:
  listen: 127.0.0.1:{port}
  dyn_listen: 127.0.0.1:{port + 1}
  stats_listen: 127.0.0.1:{port + 2}
  datacenter: dc1
  rack: {rack}
  tokens: '0'
  timeout: {TIMEOUT}
  hints_dir: {os.path.join(OUT, 'hints-' + name)}
  servers:
  - 127.0.0.1:{redis}:1
  dyn_seeds:
  - 127.0.0.1:{other + 1}:{other_rack}:dc1:0
""")
    start(name, [BIN, "-c", conf, "-o", os.path.join(OUT, name + ".log")], os.devnull)
    wait_ping(port, name)


def hints_of_b():
    with urllib.request.urlopen(f"http://127.0.0.1:{A + 2}/info", timeout=10) as r:
        d = json.load(r)
    for name, p in d.get("peers", {}).items():
        if name.endswith(f":{B + 1}"):
            return p
    return {}


# The writer: acked[key] = values acknowledged for it, in order; failed[key]
# = values whose write failed after the last acknowledged one (a write
# answered with an error may still have been applied).
acked = {}
failed = {}
lock = threading.Lock()
stats = {"ok": 0, "err": 0, "max_ms": 0.0, "errors": []}
running = threading.Event()


def writer(port=None, prefix="h"):
    """Writes through `port` (node A's by default) until `running` is
    cleared; keys `<prefix>:<n>`."""
    c = Conn(port or A)
    i = 0
    tick = 0.01
    per_tick = max(1, int(RATE * tick))
    nxt = time.monotonic()
    while running.is_set():
        batch = []
        for _ in range(per_tick):
            key = f"{prefix}:{i // 2}" if i % 5 == 4 else f"{prefix}:{i}"
            batch.append((key, f"v{i}"))
            i += 1
        t0 = time.monotonic()
        replies = c.pipeline([enc("SET", k, v) for k, v in batch])
        ms = (time.monotonic() - t0) * 1000
        with lock:
            stats["max_ms"] = max(stats["max_ms"], ms)
            for (k, v), r in zip(batch, replies):
                if r == b"+OK":
                    acked.setdefault(k, []).append(v)
                    failed.pop(k, None)
                    stats["ok"] += 1
                else:
                    failed.setdefault(k, []).append(v)
                    stats["err"] += 1
                    if len(stats["errors"]) < 3:
                        stats["errors"].append(r)
        nxt += tick
        time.sleep(max(0.0, nxt - time.monotonic()))


def values_in(port, keys):
    c = Conn(port)
    out = []
    for j in range(0, len(keys), 1000):
        out += c.pipeline([enc("GET", k) for k in keys[j:j + 1000]])
    return out


def behind(snapshot):
    """Keys whose B value is neither the value acknowledged at the snapshot
    nor a later acknowledged one."""
    keys = list(snapshot)
    got = values_in(RB, keys)
    with lock:
        lists = {k: list(acked[k]) + failed.get(k, []) for k in keys}
    n = 0
    for k, v in zip(keys, got):
        ok = lists[k][snapshot[k]:]
        if v is None or v.decode() not in ok:
            n += 1
    return n


def phase(name):
    p0 = hints_of_b().get("hints", {})
    t_down = time.monotonic()
    if name == "redis-kill":
        stop("redis-b")
    elif name == "node-kill":
        stop("node-b")
    elif name == "redis-stop":
        os.kill(procs["redis-b"].pid, signal.SIGSTOP)
    time.sleep(DOWN)
    p_mid = hints_of_b().get("hints", {})
    if name == "redis-kill":
        start_redis("redis-b", RB)
    elif name == "node-kill":
        start_node("node-b", B, "rack2", RB, A, "rack1")
    elif name == "redis-stop":
        os.kill(procs["redis-b"].pid, signal.SIGCONT)
    back = time.monotonic()
    with lock:
        snapshot = {k: len(v) - 1 for k, v in acked.items()}
        acked_n = stats["ok"]
    converged = None
    while time.monotonic() - back < SETTLE:
        if behind(snapshot) == 0:
            converged = time.monotonic() - back
            break
        time.sleep(0.5)
    left = behind(snapshot) if converged is None else 0
    # Let the hints drain before the next phase.
    drained = None
    while time.monotonic() - back < SETTLE:
        if hints_of_b().get("hints", {}).get("queued", 1) == 0:
            drained = time.monotonic() - back
            break
        time.sleep(0.5)
    p1 = hints_of_b().get("hints", {})
    return {
        "phase": name,
        "down_s": round(back - t_down, 1),
        "acked_before_return": acked_n,
        "behind_at_end": left,
        "converged_s": None if converged is None else round(converged, 1),
        "drained_s": None if drained is None else round(drained, 1),
        "hints_queued_while_down": p_mid.get("queued", 0),
        "hinted": p1.get("hinted", 0) - p0.get("hinted", 0),
        "replayed": p1.get("replayed", 0) - p0.get("replayed", 0),
        "dropped": sum(p1.get(k, 0) - p0.get(k, 0) for k in ("dropped_age", "dropped_memory", "dropped_disk")),
        "retries": p1.get("retries", 0) - p0.get("retries", 0),
    }


def main():
    try:
        start_redis("redis-a", RA)
        start_redis("redis-b", RB)
        start_node("node-a", A, "rack1", RA, B, "rack2")
        start_node("node-b", B, "rack2", RB, A, "rack1")
        for _ in range(100):
            Conn(A).pipeline([enc("SET", "warm", "1")])
            if Conn(RB).pipeline([enc("GET", "warm")])[0] == b"1":
                break
            time.sleep(0.1)
        running.set()
        w = threading.Thread(target=writer, daemon=True)
        w.start()
        time.sleep(WARM)
        results = [phase(p) for p in PHASES]
        running.clear()
        w.join()
        time.sleep(2)
        with lock:
            final = {k: [v[-1]] + failed.get(k, []) for k, v in acked.items()}
        keys = list(final)
        deadline = time.monotonic() + SETTLE
        while True:
            missing = {}
            for name, port in (("A", RA), ("B", RB)):
                got = values_in(port, keys)
                nil = sum(1 for g in got if g is None)
                stale = sum(1 for k, g in zip(keys, got) if g is not None and g.decode() not in final[k])
                missing[name] = (nil, stale)
            if all(m == (0, 0) for m in missing.values()) or time.monotonic() > deadline:
                break
            time.sleep(1)
        print(json.dumps({
            "rate": RATE, "down_s": DOWN, "writes_ok": stats["ok"], "writes_err": stats["err"],
            "write_batch_max_ms": round(stats["max_ms"]), "keys": len(keys),
            "phases": results, "missing": missing,
            "first_errors": [e.decode(errors="replace") if e else None for e in stats["errors"]],
        }))
    finally:
        cleanup()


if __name__ == "__main__":
    main()
