# Sourced by the daemon benchmarks: a throwaway PostgreSQL cluster in $work
# (fsync on), databases `pipe` and `bench`, and a cleanup trap that stops it
# and whatever the caller lists in $bench_pids. Sets pgbin, port, db, as_pg.
work=$(mktemp -d /tmp/pipebench.XXXXXX)
pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
[ "$(id -u)" -eq 0 ] && chown postgres:postgres "$work"
port=$((20000 + $$ % 20000))
bench_pids=""
cleanup() {
  for pid in $bench_pids; do kill "$pid" 2> /dev/null && wait "$pid" 2> /dev/null; done
  as_pg "$pgbin/pg_ctl" -D "$work/data" -m fast -w stop > /dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
as_pg "$pgbin/initdb" -D "$work/data" -A trust -U postgres -E UTF8 --locale=C.UTF-8 > /dev/null
as_pg "$pgbin/pg_ctl" -D "$work/data" -l "$work/pg.log" -w \
  -o "-p $port -k $work -c listen_addresses='' -c max_connections=200" start > /dev/null
as_pg "$pgbin/createdb" -h "$work" -p "$port" -U postgres pipe
as_pg "$pgbin/createdb" -h "$work" -p "$port" -U postgres bench
db="postgresql://postgres@/pipe?host=$work&port=$port"
mkdir -p "$work/dags" "$work/home" && chmod 777 "$work/dags" "$work/home"
