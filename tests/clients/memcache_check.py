"""pymemcache with its default settings against the proxy (data_store: 1).

Usage: python3 memcache_check.py PORT
Prints "pymemcache: all checks passed" on success; any failed check raises
and exits non-zero.
"""

import sys

from pymemcache.client.base import Client
from pymemcache.exceptions import MemcacheClientError


def main():
    port = int(sys.argv[1])
    # Sets, deletes, touches and the like default to noreply (nothing is
    # awaited); the checks below also ask for replies explicitly.
    c = Client(("127.0.0.1", port), connect_timeout=5, timeout=10)

    assert c.set("pm:a", b"1") is True
    assert c.get("pm:a") == b"1"
    binary = bytes(range(256)) + b"\r\nEND\r\n"
    assert c.set("pm:bin", binary, noreply=False) is True
    assert c.get("pm:bin") == binary
    assert c.get("pm:missing") is None
    assert c.add("pm:a", b"x", noreply=False) is False
    assert c.replace("pm:missing", b"x", noreply=False) is False
    assert c.get("pm:a") == b"1"

    # Many noreply sets in a row, then one multi-get.
    keys = ["pm:m%d" % i for i in range(300)]
    for i, k in enumerate(keys):
        c.set(k, b"%d" % i)
    got = c.get_many(keys + ["pm:missing"])
    assert got == {k: b"%d" % i for i, k in enumerate(keys)}, len(got)
    assert c.set_many({"pm:x": b"x", "pm:y": b"y"}, noreply=False) == []
    assert c.get_many(["pm:y", "pm:x"]) == {"pm:x": b"x", "pm:y": b"y"}

    # cas round trip, then a stale unique.
    value, token = c.gets("pm:a")
    assert value == b"1"
    assert c.cas("pm:a", b"2", token) is True
    assert c.cas("pm:a", b"3", token) is False
    assert c.get("pm:a") == b"2"
    assert c.cas("pm:missing", b"x", b"1") is None
    assert c.gets_many(["pm:a", "pm:missing"])["pm:a"][0] == b"2"

    # incr / decr.
    assert c.set("pm:n", b"10", noreply=False) is True
    assert c.incr("pm:n", 5) == 15
    assert c.decr("pm:n", 20) == 0
    assert c.incr("pm:missing", 1) is None
    c.incr("pm:n", 7, noreply=True)
    # memcached pads a number that got shorter with spaces ("15" -> "0 ").
    assert c.get("pm:n") == b"7 ", c.get("pm:n")
    try:
        c.incr("pm:bin", 1)
    except MemcacheClientError as e:
        assert "non-numeric" in str(e), str(e)
    else:
        raise AssertionError("incr of a non-number did not raise")

    # append / prepend / touch.
    assert c.append("pm:a", b"-end", noreply=False) is True
    assert c.prepend("pm:a", b"start-", noreply=False) is True
    assert c.get("pm:a") == b"start-2-end"
    assert c.touch("pm:a", 1000, noreply=False) is True
    assert c.touch("pm:missing", 1000, noreply=False) is False

    # delete, with and without a reply.
    assert c.delete("pm:a", noreply=False) is True
    assert c.delete("pm:a", noreply=False) is False
    c.delete("pm:bin")
    assert c.get_many(["pm:a", "pm:bin", "pm:x"]) == {"pm:x": b"x"}

    version = c.version()
    assert version, version
    print("pymemcache version reply: %r" % version)

    # A second client, then quit.
    c2 = Client(("127.0.0.1", port), connect_timeout=5, timeout=10)
    assert c2.get("pm:x") == b"x"
    c2.quit()
    c.close()
    print("pymemcache: all checks passed")


if __name__ == "__main__":
    main()
