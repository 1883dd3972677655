# Sourced by tests/run-all.sh and bench/run.sh: start and stop a private PostgreSQL and Redis on
# loopback. PostgreSQL refuses to run as root, so its cluster belongs to the `postgres` user.
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

as_pg() {
  if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

services_start() {
  local work=$1
  SERVICES_WORK=$work
  CIC_TEST_PG_PORT=$(free_port)
  CIC_TEST_REDIS_PORT=$(free_port)
  mkdir -p "$work/pg" "$work/pgsock" "$work/redis"
  if [[ $(id -u) -eq 0 ]]; then chown postgres:postgres "$work/pg" "$work/pgsock"; fi
  as_pg "$PG_BIN/initdb" -D "$work/pg/data" -U cic --auth=trust -E UTF8 >"$work/initdb.log" 2>&1 \
    || { cat "$work/initdb.log"; return 1; }
  as_pg "$PG_BIN/pg_ctl" -D "$work/pg/data" -l "$work/pg/server.log" -w -t 30 start \
    -o "-p $CIC_TEST_PG_PORT -k $work/pgsock -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
    >/dev/null || { cat "$work/pg/server.log"; return 1; }
  as_pg "$PG_BIN/createdb" -h 127.0.0.1 -p "$CIC_TEST_PG_PORT" -U cic cic_test
  CIC_TEST_POSTGRES_DSN="postgresql://cic@127.0.0.1:$CIC_TEST_PG_PORT/cic_test"

  redis-server --port "$CIC_TEST_REDIS_PORT" --bind 127.0.0.1 --daemonize yes --save '' \
    --appendonly no --pidfile "$work/redis/redis.pid" --dir "$work/redis" \
    --logfile "$work/redis/redis.log" >/dev/null
  for _ in $(seq 1 100); do
    redis-cli -p "$CIC_TEST_REDIS_PORT" ping >/dev/null 2>&1 && break
    sleep 0.05
  done
  CIC_TEST_REDIS_URL="redis://127.0.0.1:$CIC_TEST_REDIS_PORT"
}

services_stop() {
  [[ -n "${SERVICES_WORK:-}" ]] || return 0
  if [[ -n "${CIC_TEST_REDIS_PORT:-}" ]]; then
    redis-cli -p "$CIC_TEST_REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
  fi
  if [[ -d "$SERVICES_WORK/pg/data" ]]; then
    as_pg "$PG_BIN/pg_ctl" -D "$SERVICES_WORK/pg/data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  SERVICES_WORK=""
}
