"""redis-py (8.x) transactions through the proxy: the transactional
pipeline (redis-py's default), a pipeline whose command fails at EXEC, and
a WATCH retry loop raced by several threads, RESP2 and RESP3.

Usage: python3 txn_redis_py_check.py PORT
Prints one line per protocol and "txn redis-py: all checks passed".
"""

import sys
import threading

import redis


def check(port, protocol):
    r = redis.Redis(host="127.0.0.1", port=port, protocol=protocol)
    p = "txn%d:" % protocol

    pipe = r.pipeline()  # transaction=True is the default
    pipe.set(p + "a", "1").incr(p + "a").get(p + "a").rpush(p + "l", "x", "y")
    assert pipe.execute() == [True, 2, b"2", 2]

    # A command that fails inside EXEC: the others ran, as in redis.
    pipe = r.pipeline()
    pipe.set(p + "s", "v").lpush(p + "s", "x").get(p + "s")
    res = pipe.execute(raise_on_error=False)
    assert res[0] is True and res[2] == b"v", res
    assert isinstance(res[1], redis.ResponseError), res

    # A command refused while queueing: nothing runs.
    pipe = r.pipeline()
    pipe.set(p + "never", "1")
    pipe.execute_command("NOSUCHCOMMAND")
    try:
        pipe.execute()
        raise AssertionError("EXECABORT expected")
    except redis.ResponseError as e:
        assert "EXECABORT" in str(e) or "unknown command" in str(e), e
    assert r.get(p + "never") is None

    # WATCH: threads race to increment one counter with check-and-set.
    r.set(p + "ctr", 0)
    threads, per = 4, 25

    def worker():
        c = redis.Redis(host="127.0.0.1", port=port, protocol=protocol)
        for _ in range(per):

            def incr(pipe):
                v = int(pipe.get(p + "ctr"))
                pipe.multi()
                pipe.set(p + "ctr", v + 1)

            c.transaction(incr, p + "ctr")

    ts = [threading.Thread(target=worker) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert int(r.get(p + "ctr")) == threads * per, r.get(p + "ctr")

    # A failed WATCH: another client changes the key between WATCH and EXEC.
    with r.pipeline() as pipe:
        pipe.watch(p + "w")
        r.set(p + "w", "other")
        pipe.multi()
        pipe.set(p + "w", "mine")
        try:
            pipe.execute()
            raise AssertionError("WatchError expected")
        except redis.WatchError:
            pass
    assert r.get(p + "w") == b"other"
    print("txn%d: ok" % protocol)


def main():
    port = int(sys.argv[1])
    for protocol in (2, 3):
        check(port, protocol)
    print("txn redis-py: all checks passed")


if __name__ == "__main__":
    main()
