"""redis-py (8.x) over TLS against the proxy's TLS client port.

Usage: python3 redis_py_tls_check.py PORT CA_FILE
The server certificate is verified against CA_FILE (and its IP address).
Prints "redis-py tls: all checks passed" on success; any failed check raises
and exits non-zero.
"""

import sys

import redis


def main():
    port = int(sys.argv[1])
    ca = sys.argv[2]
    r = redis.Redis(
        host="127.0.0.1",
        port=port,
        ssl=True,
        ssl_ca_certs=ca,
        ssl_cert_reqs="required",
    )
    p = "pytls:"
    assert r.ping() is True
    assert r.set(p + "a", "1") is True
    assert r.get(p + "a") == b"1"
    big = bytes(range(256)) * 4096  # 1 MiB, every byte value
    assert r.set(p + "big", big) is True
    assert r.get(p + "big") == big
    assert r.mget([p + "a", p + "missing"]) == [b"1", None]
    pipe = r.pipeline(transaction=False)
    for _ in range(200):
        pipe.incr(p + "ctr")
    results = pipe.execute()
    assert results == list(range(1, 201)), results[:5]
    assert r.delete(p + "a", p + "big", p + "ctr") == 3
    r.close()
    print("redis-py tls: all checks passed")


main()
