#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for benchmarks: `source benches/pg-cluster.sh DIR PORT`
# runs initdb in DIR (as the `postgres` user when run as root: initdb refuses root),
# starts it on 127.0.0.1:PORT with its socket in DIR, and exports PGHOST/PGPORT/PGUSER
# and pg_stop (a function that stops it). Binaries come from PATH or
# /usr/lib/postgresql/*/bin.
pg_dir=$1
pg_port=${2:-55432}
pg_bin=$(dirname "$(command -v initdb 2>/dev/null || ls -d /usr/lib/postgresql/*/bin/initdb | sort -V | tail -1)")
as_owner() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
rm -rf "$pg_dir" && mkdir -p "$pg_dir"
[ "$(id -u)" = 0 ] && chown postgres "$pg_dir"
as_owner "$pg_bin/initdb" -D "$pg_dir/data" -U postgres -A trust --no-sync >/dev/null
as_owner "$pg_bin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/log" -w \
  -o "-p $pg_port -k $pg_dir -c listen_addresses=127.0.0.1 -c fsync=off -c shared_buffers=1GB -c work_mem=64MB" start >/dev/null
export PGHOST=$pg_dir PGPORT=$pg_port PGUSER=postgres
pg_stop() { as_owner "$pg_bin/pg_ctl" -D "$pg_dir/data" -m fast stop >/dev/null; }
