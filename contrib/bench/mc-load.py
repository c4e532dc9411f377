#!/usr/bin/env python3
"""A small memcached load generator (text protocol), used by bench.sh when
neither memtier_benchmark nor memaslap is installed.

Opens CONNS connections and on each sends batches of PIPELINE requests (set or
get of random keys out of KEYSPACE), waits for all replies of a batch, then
sends the next batch, until REQUESTS requests are done or SECONDS have passed.
The latency of a request is the time from writing its batch to reading the
last reply of that batch. A get run first stores every key it may ask for.
Prints one line:

    ops=<req/s> avg_ms=<n> p50_ms=<n> p99_ms=<n> requests=<n> misses=<n>

One Python process drives the load, so on few cores it is the bottleneck long
before memcached is: compare the targets with each other, not with other tools.
"""

import argparse
import asyncio
import random
import sys
import time


async def read_reply(reader, op):
    """Reads one reply; returns True for a hit (get) or a stored value (set)."""
    if op == "set":
        line = await reader.readline()
        if line != b"STORED\r\n":
            raise RuntimeError(f"set: unexpected reply {line!r}")
        return True
    hit = False
    while True:
        line = await reader.readline()
        if not line:
            raise RuntimeError("get: connection closed")
        if line == b"END\r\n":
            return hit
        if line.startswith(b"VALUE "):
            size = int(line.split()[3])
            await reader.readexactly(size + 2)
            hit = True
        else:
            raise RuntimeError(f"get: unexpected reply {line!r}")


def request(op, key, value):
    if op == "set":
        return b"set %s 0 0 %d\r\n%s\r\n" % (key, len(value), value)
    return b"get %s\r\n" % key


async def worker(args, op, budget, deadline, lat, counts):
    reader, writer = await asyncio.open_connection(args.host, args.port)
    value = b"x" * args.size
    rnd = random.Random()
    try:
        while budget[0] > 0 and time.monotonic() < deadline:
            n = min(args.pipeline, budget[0])
            budget[0] -= n
            keys = [b"memtest:%d" % rnd.randrange(args.keyspace) for _ in range(n)]
            started = time.monotonic()
            writer.write(b"".join(request(op, k, value) for k in keys))
            await writer.drain()
            for _ in range(n):
                if not await read_reply(reader, op):
                    counts["misses"] += 1
            took = time.monotonic() - started
            lat.extend([took] * n)
            counts["done"] += n
    finally:
        writer.close()


async def preload(args):
    """Stores every key of the key space, pipelined over a few connections."""
    value = b"x" * args.size

    async def one(keys):
        reader, writer = await asyncio.open_connection(args.host, args.port)
        for i in range(0, len(keys), 100):
            chunk = keys[i:i + 100]
            writer.write(b"".join(request("set", k, value) for k in chunk))
            await writer.drain()
            for _ in chunk:
                await read_reply(reader, "set")
        writer.close()

    keys = [b"memtest:%d" % i for i in range(args.keyspace)]
    await asyncio.gather(*(one(keys[i::4]) for i in range(4)))


async def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--op", choices=["set", "get"], required=True)
    p.add_argument("--conns", type=int, default=50)
    p.add_argument("--pipeline", type=int, default=1)
    p.add_argument("--requests", type=int, default=100000)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--keyspace", type=int, default=10000)
    p.add_argument("--size", type=int, default=3)
    args = p.parse_args()

    if args.op == "get":
        await preload(args)
    lat, counts, budget = [], {"done": 0, "misses": 0}, [args.requests]
    started = time.monotonic()
    deadline = started + args.seconds
    await asyncio.gather(*(worker(args, args.op, budget, deadline, lat, counts)
                           for _ in range(args.conns)))
    elapsed = time.monotonic() - started
    if not lat:
        sys.exit("no request completed")
    lat.sort()
    ms = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000
    print(f"ops={counts['done'] / elapsed:.0f} avg_ms={sum(lat) / len(lat) * 1000:.3f}"
          f" p50_ms={ms(0.50):.3f} p99_ms={ms(0.99):.3f}"
          f" requests={counts['done']} misses={counts['misses']}")


if __name__ == "__main__":
    asyncio.run(main())
