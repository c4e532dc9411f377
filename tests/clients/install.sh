#!/usr/bin/env bash
# Installs what the integration tests need besides Rust: redis-server and
# redis-cli, memcached, libmemcached-tools (memccapable, memccp, ...), curl,
# dnsmasq (the DNS seed provider tests), openssl (the TLS tests make
# certificates), redis-py 8.x, pymemcache, Sidekiq (Debian's ruby-sidekiq),
# Celery 5.7.0, Django 5.1 and RQ 2.1 (the transaction tests),
# prometheus_client (its parser checks /metrics), node with npm, and the npm
# packages pinned in package-lock.json (ioredis, node-redis). Safe to run
# more than once.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

sudo=""
if [ "$(id -u)" -ne 0 ]; then
    sudo="sudo"
fi

apt_packages=()
command -v redis-server >/dev/null 2>&1 || apt_packages+=(redis-server)
command -v redis-cli >/dev/null 2>&1 || apt_packages+=(redis-tools)
command -v memcached >/dev/null 2>&1 || apt_packages+=(memcached)
command -v memccapable >/dev/null 2>&1 || apt_packages+=(libmemcached-tools)
command -v curl >/dev/null 2>&1 || apt_packages+=(curl)
# dnsmasq-base: the DNS server of the seed-provider tests (the binary only,
# no system service).
command -v dnsmasq >/dev/null 2>&1 || [ -x /usr/sbin/dnsmasq ] || apt_packages+=(dnsmasq-base)
command -v openssl >/dev/null 2>&1 || apt_packages+=(openssl)
command -v python3 >/dev/null 2>&1 || apt_packages+=(python3 python3-pip)
command -v node >/dev/null 2>&1 || apt_packages+=(nodejs)
# Sidekiq's server and client (the blocking-command tests), with ruby.
ruby -e 'require "sidekiq"' >/dev/null 2>&1 || apt_packages+=(ruby-sidekiq)
command -v npm >/dev/null 2>&1 || apt_packages+=(npm)
if [ "${#apt_packages[@]}" -gt 0 ]; then
    $sudo apt-get update
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends "${apt_packages[@]}"
fi

if ! python3 -c 'import redis, sys; sys.exit(0 if redis.__version__.startswith("8.") else 1)' 2>/dev/null; then
    # Debian's system Python refuses plain pip installs (PEP 668).
    python3 -m pip install --quiet 'redis>=8,<9' ||
        python3 -m pip install --quiet --break-system-packages 'redis>=8,<9'
fi

if ! python3 -c 'import pymemcache' 2>/dev/null; then
    python3 -m pip install --quiet pymemcache ||
        python3 -m pip install --quiet --break-system-packages pymemcache
fi

if ! python3 -c 'import prometheus_client.parser' 2>/dev/null; then
    python3 -m pip install --quiet prometheus_client ||
        python3 -m pip install --quiet --break-system-packages prometheus_client
fi

if ! python3 -c 'import celery, packaging, sys; sys.exit(0 if celery.__version__ == "5.7.0" else 1)' 2>/dev/null; then
    # Without the [redis] extra: kombu uses the redis-py 8 installed above.
    python3 -m pip install --quiet 'celery==5.7.0' packaging ||
        python3 -m pip install --quiet --break-system-packages 'celery==5.7.0' packaging
fi

if ! python3 -c 'import django, sys; sys.exit(0 if django.__version__ == "5.1.4" else 1)' 2>/dev/null; then
    python3 -m pip install --quiet 'Django==5.1.4' ||
        python3 -m pip install --quiet --break-system-packages 'Django==5.1.4'
fi

if ! python3 -c 'import rq, sys; sys.exit(0 if rq.__version__ == "2.1.0" else 1)' 2>/dev/null; then
    python3 -m pip install --quiet 'rq==2.1.0' ||
        python3 -m pip install --quiet --break-system-packages 'rq==2.1.0'
fi

cd "$here"
npm ci --no-audit --no-fund

echo "integration test clients installed"
