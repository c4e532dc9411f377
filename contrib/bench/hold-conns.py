#!/usr/bin/env python3
"""Measure what idle client connections cost a proxy in resident memory.

Reads VmRSS of the proxy, opens COUNT connections to it, sends one PING on
each, waits for every reply, reads VmRSS again while all connections are still
open, then closes them. Prints one line:

    idle_kib=<n> loaded_kib=<n> per_conn_kib=<n.n> replies=<n>

The caller raises the open-file limit (COUNT plus a few descriptors).
"""

import argparse
import selectors
import socket
import sys
import time

PING = b"*1\r\n$4\r\nPING\r\n"
PONG = b"+PONG\r\n"


def vm_rss_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--pid", type=int, required=True,
                        help="process whose VmRSS is read")
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--timeout", type=float, default=30.0,
                        help="seconds allowed for connecting and replies")
    parser.add_argument("--settle", type=float, default=0.5,
                        help="seconds to wait before reading VmRSS")
    args = parser.parse_args()

    time.sleep(args.settle)
    idle_kib = vm_rss_kib(args.pid)
    deadline = time.monotonic() + args.timeout

    conns = []
    try:
        for _ in range(args.count):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("connecting took too long")
            conn = socket.create_connection((args.host, args.port),
                                            timeout=remaining)
            conn.sendall(PING)
            conn.setblocking(False)
            conns.append(conn)

        sel = selectors.DefaultSelector()
        pending = {}
        for conn in conns:
            sel.register(conn, selectors.EVENT_READ)
            pending[conn] = b""
        replies = 0
        while pending:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"{len(pending)} replies missing")
            for key, _ in sel.select(timeout=remaining):
                conn = key.fileobj
                data = conn.recv(64)
                if not data:
                    raise ConnectionError("proxy closed a connection")
                pending[conn] += data
                if pending[conn].endswith(b"\r\n"):
                    if pending[conn] != PONG:
                        raise ValueError(f"unexpected reply {pending[conn]!r}")
                    replies += 1
                    sel.unregister(conn)
                    del pending[conn]
        sel.close()

        time.sleep(args.settle)
        loaded_kib = vm_rss_kib(args.pid)
    finally:
        for conn in conns:
            conn.close()

    per_conn = (loaded_kib - idle_kib) / args.count
    print(f"idle_kib={idle_kib} loaded_kib={loaded_kib} "
          f"per_conn_kib={per_conn:.1f} replies={replies}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (OSError, ValueError, RuntimeError) as err:
        print(f"hold-conns: {err}", file=sys.stderr)
        sys.exit(1)
