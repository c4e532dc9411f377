"""pymemcache's stats(), version() and flush_all() through the proxy
(data_store: 1), checked against the memcached behind it.

Usage: python3 memcache_admin_check.py PROXY_PORT MEMCACHED_PORT MODE
MODE is "proxy", or "direct" when PROXY_PORT is memcached itself (the
node-only checks are then skipped).
Prints "pymemcache admin: all checks passed" on success; any failed check
raises and exits non-zero.
"""

import sys

from pymemcache.client.base import Client


def main():
    port, backend_port, mode = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    c = Client(("127.0.0.1", port), connect_timeout=5, timeout=10)
    d = Client(("127.0.0.1", backend_port), connect_timeout=5, timeout=10)

    # version(): the datastore's own version string.
    version = c.version()
    assert version == d.version(), (version, d.version())
    assert version.startswith(b"1."), version
    major, minor, _patch = version.split(b".", 2)
    assert int(major) >= 1 and int(minor) >= 0, version

    # stats(): the datastore's figures, under memcached's names.
    stats = c.stats()
    direct = d.stats()
    assert set(stats) == set(direct), set(stats) ^ set(direct)
    for name in (b"pid", b"uptime", b"curr_connections", b"cmd_get", b"version"):
        assert name in stats, name
    assert stats[b"version"] == version, stats[b"version"]
    assert c.stats("settings")[b"maxconns"] == d.stats("settings")[b"maxconns"]

    if mode == "proxy":
        node = c.stats("dynomite")
        for name in (b"pid", b"uptime", b"version", b"client_connections"):
            assert name in node, (name, sorted(node))
        assert node[b"version"].startswith(b"dynomite-"), node[b"version"]
        assert node[b"pid"] != stats[b"pid"], "the node's pid is the datastore's"

    # flush_all(): everything goes.
    assert c.set("adm:a", b"1", noreply=False) is True
    assert c.flush_all(noreply=False) is True
    assert c.get("adm:a") is None
    assert d.get("adm:a") is None
    c.quit()
    d.quit()
    print("pymemcache admin: all checks passed")


if __name__ == "__main__":
    main()
