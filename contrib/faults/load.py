#!/usr/bin/env python3
"""Load and sampling for the fault runs (contrib/faults/*.sh); standard
library only, loopback only.

Three clients of one node run for --seconds:
  writer   SET at --rate per second (DC_ONE), pipelined in 10 ms ticks;
  reader   GET of keys already written, 100 per second (DC_ONE);
  quorum   one DC_QUORUM GET every 200 ms.
Every --every seconds a sampler records the node's RSS (/proc/PID/status),
its /info fault figures and what the clients saw so far, as one JSON line
on stdout. The last line (\"final\": true) sums everything up.
"""

import argparse
import json
import socket
import threading
import time
import urllib.request


def encode(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        if isinstance(a, str):
            a = a.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


class Conn:
    """A blocking RESP connection that reads whole simple replies."""

    def __init__(self, port, timeout=30.0):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""

    def send(self, data):
        self.s.sendall(data)

    def reply(self):
        while True:
            r = self._parse()
            if r is not None:
                return r
            chunk = self.s.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.buf += chunk

    def _parse(self):
        i = self.buf.find(b"\r\n")
        if i < 0:
            return None
        head = self.buf[:i]
        if head[:1] == b"$":
            n = int(head[1:])
            if n < 0:
                self.buf = self.buf[i + 2:]
                return head
            end = i + 2 + n + 2
            if len(self.buf) < end:
                return None
            r = self.buf[:end]
            self.buf = self.buf[end:]
            return r
        self.buf = self.buf[i + 2:]
        return head

    def cmd(self, *args):
        self.send(encode(*args))
        return self.reply()


class Figures:
    def __init__(self):
        self.lock = threading.Lock()
        self.v = {
            "writes_ok": 0, "writes_err": 0, "writes_max_ms": 0.0,
            "reads_ok": 0, "reads_err": 0, "reads_max_ms": 0.0,
            "quorum_ok": 0, "quorum_err": 0, "quorum_max_ms": 0.0,
            "quorum_err_max_ms": 0.0, "quorum_err_over_100ms": 0,
            "first_errors": [],
        }

    def add(self, kind, ok, ms, reply=None):
        with self.lock:
            v = self.v
            v[kind + ("_ok" if ok else "_err")] += 1
            v[kind + "_max_ms"] = max(v[kind + "_max_ms"], ms)
            if not ok:
                if kind == "quorum":
                    v["quorum_err_max_ms"] = max(v["quorum_err_max_ms"], ms)
                    v["quorum_err_over_100ms"] += ms > 100
                if len(v["first_errors"]) < 5:
                    v["first_errors"].append(reply.decode(errors="replace"))

    def snapshot(self):
        with self.lock:
            return dict(self.v)


def writer(port, rate, stop, fig, written):
    c = Conn(port)
    per_tick = max(1, rate // 100)
    n = 0
    next_t = time.monotonic()
    while not stop.is_set():
        batch = [encode("SET", "fault:%d" % (n + k), "v%d" % (n + k)) for k in range(per_tick)]
        t0 = time.monotonic()
        c.send(b"".join(batch))
        for k in range(per_tick):
            r = c.reply()
            ms = (time.monotonic() - t0) * 1000
            fig.add("writes", r == b"+OK", ms, r)
        n += per_tick
        written[0] = n
        next_t += 0.01
        time.sleep(max(0.0, next_t - time.monotonic()))


def reader(port, stop, fig, written):
    c = Conn(port)
    i = 0
    while not stop.is_set():
        n = written[0]
        if n > 0:
            k = (i * 7919) % n
            t0 = time.monotonic()
            r = c.cmd("GET", "fault:%d" % k)
            ms = (time.monotonic() - t0) * 1000
            fig.add("reads", r.startswith(b"$") and not r.startswith(b"$-1"), ms, r)
            i += 1
        time.sleep(0.01)


def quorum(port, stop, fig, written):
    c = Conn(port)
    assert c.cmd("DYNO_CONFIG:CONN_CONSISTENCY", "DC_QUORUM") == b"+OK"
    while not stop.is_set():
        n = max(1, written[0])
        t0 = time.monotonic()
        r = c.cmd("GET", "fault:%d" % (n - 1))
        ms = (time.monotonic() - t0) * 1000
        fig.add("quorum", r.startswith(b"$"), ms, r)
        time.sleep(0.2)


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def info(stats_port):
    with urllib.request.urlopen("http://127.0.0.1:%d/info" % stats_port, timeout=10) as r:
        return json.loads(r.read())


def fault_view(doc):
    pool = next(v for v in doc.values() if isinstance(v, dict) and "client_eof" in v)
    peers = doc.get("peers", {})
    return {
        "peer_states": {k: p["state"] for k, p in peers.items()},
        "queued_msgs": sum(p["queued_msgs"] for p in peers.values()),
        "queued_bytes": sum(p["queued_bytes"] for p in peers.values()),
        "peer_dropped_requests": pool["peer_dropped_requests"],
        "peer_timedout_requests": pool["peer_timedout_requests"],
        "faults": doc.get("faults", {}),
        "alloc_msgs": doc["alloc_msgs"],
        "free_msgs": doc["free_msgs"],
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--stats-port", type=int, required=True)
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--rate", type=int, default=1500)
    ap.add_argument("--seconds", type=int, default=300)
    ap.add_argument("--every", type=int, default=5)
    a = ap.parse_args()

    fig = Figures()
    stop = threading.Event()
    written = [0]
    threads = [
        threading.Thread(target=f, args=args, daemon=True)
        for f, args in [
            (writer, (a.port, a.rate, stop, fig, written)),
            (reader, (a.port, stop, fig, written)),
            (quorum, (a.port, stop, fig, written)),
        ]
    ]
    for t in threads:
        t.start()
    start = time.monotonic()
    rss_max = 0
    while True:
        time.sleep(a.every)
        t = time.monotonic() - start
        rss = rss_kib(a.pid)
        rss_max = max(rss_max, rss)
        line = {"t": round(t, 1), "rss_kib": rss, "clients": fig.snapshot()}
        line.update(fault_view(info(a.stats_port)))
        print(json.dumps(line), flush=True)
        if t >= a.seconds:
            break
    stop.set()
    for th in threads:
        th.join(timeout=30)
    final = {"final": True, "seconds": a.seconds, "rss_max_kib": rss_max,
             "clients": fig.snapshot()}
    final.update(fault_view(info(a.stats_port)))
    print(json.dumps(final), flush=True)


if __name__ == "__main__":
    main()
