#!/usr/bin/env bash
#
# From a fresh checkout to a running node: install redis-server if it is
# missing, start a throwaway redis on 127.0.0.1:6379 unless something already
# listens there, build dynomite and run it in the foreground on
# conf/dynomite.yml (clients on 127.0.0.1:8102, stats on 127.0.0.1:22222).
#
# Usage: contrib/quickstart.sh        (Ctrl-C stops dynomite)

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CONF=conf/dynomite.yml
REDIS_PORT=6379

log() {
    printf 'quickstart: %s\n' "$*" >&2
}

listening() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

cd "$ROOT"
[[ -f $CONF ]] || { log "$CONF not found in $ROOT"; exit 1; }

if ! command -v redis-server >/dev/null; then
    sudo=()
    [[ $(id -u) == 0 ]] || sudo=(sudo)
    log "installing redis-server"
    "${sudo[@]}" apt-get update
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y redis-server
fi

if listening "$REDIS_PORT"; then
    log "something already listens on 127.0.0.1:$REDIS_PORT; using it as the datastore"
else
    run_dir=$(mktemp -d "${TMPDIR:-/tmp}/dynomite-quickstart.XXXXXX")
    redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --daemonize yes \
        --save '' --appendonly no --dir "$run_dir" \
        --pidfile "$run_dir/redis.pid" --logfile "$run_dir/redis.log"
    for ((i = 0; i < 50; i++)); do
        listening "$REDIS_PORT" && break
        sleep 0.1
    done
    listening "$REDIS_PORT" || { log "redis did not start; see $run_dir/redis.log"; exit 1; }
    log "redis-server started on 127.0.0.1:$REDIS_PORT (pid $(cat "$run_dir/redis.pid")," \
        "no persistence); stop it with: kill \$(cat $run_dir/redis.pid)"
fi

log "building dynomite (cargo build --release)"
cargo build --release

cat >&2 <<EOF

dynomite runs in the foreground on $CONF; Ctrl-C stops it.
  connect:  redis-cli -p 8102
  stats:    curl -s http://127.0.0.1:22222/info

EOF
exec target/release/dynomite -c "$CONF"
