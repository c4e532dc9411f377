"""redis-py (8.x) with a password against a node with requirepass.

Usage: python3 auth_redis_py_check.py PORT PASSWORD
With the password (RESP2: AUTH <password>; RESP3: HELLO 3 AUTH default
<password>; username "default": AUTH default <password>) commands work;
with a wrong one the connection fails with WRONGPASS, and without one a
command gets NOAUTH. Prints "redis-py auth: all checks passed" on success.
"""

import sys

import redis


def works(port, **kwargs):
    r = redis.Redis(host="127.0.0.1", port=port, **kwargs)
    key = "pyauth:%s" % sorted(kwargs.items())
    assert r.ping() is True
    assert r.set(key, "v") is True
    assert r.get(key) == b"v"
    r.close()


def refused(port, want, **kwargs):
    r = redis.Redis(host="127.0.0.1", port=port, **kwargs)
    try:
        r.get("pyauth:x")
    except (redis.AuthenticationError, redis.ResponseError) as e:
        assert any(w in str(e) for w in want), "%s: %s" % (type(e).__name__, e)
    else:
        raise AssertionError("no error for %r" % (kwargs,))
    r.close()


def main():
    port = int(sys.argv[1])
    password = sys.argv[2]
    works(port, password=password)
    works(port, password=password, protocol=3)
    works(port, username="default", password=password)
    print("redis-py auth ok: ok")
    # redis-py raises AuthenticationError and keeps only the text after
    # the WRONGPASS code.
    wrong = ["invalid username-password pair"]
    refused(port, wrong, password=password + "x")
    refused(port, wrong, password=password + "x", protocol=3)
    refused(port, wrong, username="nobody", password=password)
    print("redis-py auth wrong: ok")
    # redis-py 8 opens with HELLO 3: redis' NOAUTH text for HELLO.
    refused(port, ["Authentication required", "HELLO must be called with the client already authenticated"])
    refused(port, ["Authentication required"], protocol=2)
    print("redis-py auth missing: ok")
    print("redis-py auth: all checks passed")


main()
