#!/usr/bin/env bash
# A throwaway PostgreSQL cluster (Debian's postgresql package) for tests and benchmarks, run as an
# unprivileged user in a temporary directory, reachable only through a Unix socket there.
#   scripts/pg-cluster.sh start STATE   starts one; STATE (a file) records where, and the
#                                       connection URI is printed and written to STATE.uri
#   scripts/pg-cluster.sh stop STATE    stops it and removes its directory
#   scripts/pg-cluster.sh down STATE    an immediate stop of the server (as a crash), data kept
#   scripts/pg-cluster.sh up STATE      starts it again on the same data
# As root it runs the server as the `postgres` user the package creates; otherwise as the caller.
set -euo pipefail

cmd=${1:?usage: pg-cluster.sh start|stop|down|up STATE}
state=${2:?usage: pg-cluster.sh start|stop|down|up STATE}
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -x "$bin/initdb" ] || { echo "pg-cluster: no PostgreSQL server (apt-get install postgresql)" >&2; exit 1; }

as_owner() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

stop() {
  [ -f "$state" ] || return 0
  local dir
  dir=$(cat "$state")
  if [ -d "$dir/data" ]; then
    as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  case "$dir" in /tmp/imprint-pg.*) rm -rf "$dir" ;; esac
  rm -f "$state" "$state.uri"
}

start_server() {
  local dir=$1
  # fsync off: a test kills processes, never the machine, and the page cache outlives a process.
  as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    -o "-k $dir -c listen_addresses='' -p 5432 -c fsync=off -c max_connections=200" start >/dev/null
}

case "$cmd" in
  start)
    stop
    dir=$(mktemp -d /tmp/imprint-pg.XXXXXX)
    chmod 755 "$dir"
    [ "$(id -u)" -ne 0 ] || chown postgres: "$dir"
    as_owner "$bin/initdb" -D "$dir/data" -U imprint --auth=trust --locale=C -E UTF8 >"$dir/initdb.log"
    start_server "$dir"
    echo "$dir" >"$state"
    uri="postgresql://imprint@/imprint?host=$dir&port=5432"
    # The catalog's own database; tests make more beside it.
    as_owner "$bin/psql" -q -h "$dir" -p 5432 -U imprint -d postgres -c "CREATE DATABASE imprint" >/dev/null
    echo "$uri" >"$state.uri"
    echo "$uri"
    ;;
  stop) stop ;;
  down)
    as_owner "$bin/pg_ctl" -D "$(cat "$state")/data" -m immediate -w stop >/dev/null
    ;;
  up) start_server "$(cat "$state")" ;;
  *) echo "usage: pg-cluster.sh start|stop|down|up STATE" >&2; exit 2 ;;
esac
