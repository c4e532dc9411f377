"""Django's RedisCache (django.core.cache.backends.redis) through the proxy,
with a database number in its URL: set_many (a transactional pipeline),
get_many, incr, delete_many, clear (FLUSHDB).

Usage: python3 django_cache_check.py PORT DB
Prints "django: all checks passed"; any failed check raises.
"""

import sys

import django
from django.conf import settings


def main():
    port, db = int(sys.argv[1]), int(sys.argv[2])
    settings.configure(
        CACHES={
            "default": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": "redis://127.0.0.1:%d/%d" % (port, db),
            }
        }
    )
    django.setup()
    from django.core.cache import cache

    values = {"dj:a": 1, "dj:b": "two", "dj:c": [3, 4]}
    assert cache.set_many(values, timeout=300) == []
    assert cache.get_many(list(values)) == values
    cache.set("dj:n", 10)
    assert cache.incr("dj:n") == 11
    cache.delete_many(["dj:a"])
    assert cache.get("dj:a") is None
    assert cache.get("dj:b") == "two"
    print("django: before clear ok")
    sys.stdout.flush()
    if len(sys.argv) > 3 and sys.argv[3] == "keep":
        print("django: all checks passed")
        return
    cache.clear()
    assert cache.get("dj:b") is None
    assert cache.get_many(list(values)) == {}
    print("django: all checks passed")


if __name__ == "__main__":
    main()
