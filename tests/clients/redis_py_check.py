"""redis-py (8.x) with its default settings against the proxy.

Usage: python3 redis_py_check.py PORT
Prints one line per protocol and "redis-py: all checks passed" on success;
any failed check raises and exits non-zero.
"""

import sys

import redis


def check(port, protocol):
    kwargs = {} if protocol is None else {"protocol": protocol}
    r = redis.Redis(host="127.0.0.1", port=port, **kwargs)
    p = "py%s:" % (protocol or "default")

    assert r.ping() is True
    assert r.set(p + "a", "1") is True
    assert r.get(p + "a") == b"1"
    binary = b"\x00\xff\r\n binary"
    assert r.set(p + "bin", binary) is True
    assert r.get(p + "bin") == binary
    assert r.get(p + "missing") is None
    assert r.mget([p + "a", p + "missing", p + "bin"]) == [b"1", None, binary]
    assert r.mset({p + "m1": "x", p + "m2": "y"}) is True
    assert r.mget(p + "m1", p + "m2") == [b"x", b"y"]
    assert r.hset(p + "h", mapping={"f1": "v1", "f2": "v2"}) == 2
    assert r.hgetall(p + "h") == {b"f1": b"v1", b"f2": b"v2"}
    assert r.incr(p + "n") == 1
    assert r.delete(p + "m1", p + "m2", p + "missing") == 2
    assert r.exists(p + "a", p + "bin") == 2

    pipe = r.pipeline(transaction=False)
    for i in range(100):
        pipe.incr(p + "ctr")
    pipe.get(p + "ctr")
    pipe.hgetall(p + "h")
    results = pipe.execute()
    assert results[:100] == list(range(1, 101)), results[:100]
    assert results[100] == b"100"
    assert results[101] == {b"f1": b"v1", b"f2": b"v2"}

    try:
        r.execute_command("FOOBAR")
    except redis.ResponseError as e:
        assert str(e), "empty error text"
    else:
        raise AssertionError("FOOBAR did not raise")
    assert r.ping() is True

    # The connection pool reuses the connection; a second client works too.
    r2 = redis.Redis(host="127.0.0.1", port=port, **kwargs)
    assert r2.get(p + "a") == b"1"
    r2.close()
    r.close()
    print("%s ok" % p)


def main():
    port = int(sys.argv[1])
    for protocol in (None, 2, 3):
        check(port, protocol)
    print("redis-py %s: all checks passed" % redis.__version__)


if __name__ == "__main__":
    main()
