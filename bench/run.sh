#!/usr/bin/env bash
# bench/run.sh [BUILD_DIR]
#
# Measures cic-control against a direct call to the same cic-node-sim node and against nginx as
# a reference reverse proxy, on loopback, and prints one table (docs/benchmarks.md explains it).
# Raw figures go to bench/results/latest.json. Everything started here is stopped on exit.
#
# Tunables (environment): BENCH_RATE (1000 req/s), BENCH_OPEN_S (15), BENCH_WARMUP_S (2),
# BENCH_CLOSED_S (10), BENCH_STREAMS (500), BENCH_STREAM_S (8), BENCH_CONNECTIONS (64),
# NGINX (/usr/sbin/nginx).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$(cd "${1:-$ROOT/build-bench}" 2>/dev/null && pwd) || { echo "run.sh: no build directory ${1:-$ROOT/build-bench}" >&2; exit 1; }
LOADGEN=$BUILD/bin/cic-loadgen
NODE_SIM=$BUILD/bin/cic-node-sim
GATEWAY=$BUILD/bin/cic-control
NGINX=${NGINX:-/usr/sbin/nginx}

RATE=${BENCH_RATE:-1000}
OPEN_S=${BENCH_OPEN_S:-15}
WARMUP_S=${BENCH_WARMUP_S:-2}
CLOSED_S=${BENCH_CLOSED_S:-10}
STREAMS=${BENCH_STREAMS:-500}
STREAM_S=${BENCH_STREAM_S:-8}
CONNECTIONS=${BENCH_CONNECTIONS:-64}
GATEWAY_THREADS=2  # server.threads in bench/bench.yaml; nginx gets as many workers
MODEL=llama-3.1-8b-instruct

for tool in "$LOADGEN" "$NODE_SIM"; do
  [[ -x $tool ]] || { echo "run.sh: $tool is not built; build it first (see docs/benchmarks.md)" >&2; exit 1; }
done
[[ -x $NGINX ]] || { echo "run.sh: nginx not found at $NGINX (Debian package nginx-light)" >&2; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/cic-bench.XXXXXX")
PIDS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { printf '[bench] %s\n' "$*" >&2; }

# N free loopback ports, held open together so they are distinct.
free_ports() {
  python3 -c 'import socket,sys
ss=[socket.socket() for _ in range(int(sys.argv[1]))]
for s in ss: s.bind(("127.0.0.1",0))
print(" ".join(str(s.getsockname()[1]) for s in ss))' "$1"
}

json_field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }

# Polls for a ready file written by process PID; fails if the process dies or 15 s pass.
wait_ready_file() {
  local file=$1 pid=$2 i
  for ((i = 0; i < 300; i++)); do
    [[ -s $file ]] && return 0
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.05
  done
  return 1
}

wait_port() {
  local port=$1 i
  for ((i = 0; i < 200; i++)); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
    sleep 0.05
  done
  return 1
}

# --- the node --------------------------------------------------------------------------------
"$NODE_SIM" --listen 127.0.0.1:0 --ready-file "$WORK/node.ready" --model "$MODEL" --threads 1 \
  >"$WORK/node.log" 2>&1 &
NODE_PID=$!
PIDS+=("$NODE_PID")
wait_ready_file "$WORK/node.ready" "$NODE_PID" || { cat "$WORK/node.log" >&2; echo "run.sh: cic-node-sim did not start" >&2; exit 1; }
NODE_PORT=$(json_field "$WORK/node.ready" port)
log "cic-node-sim pid $NODE_PID on port $NODE_PORT"

read -r NGINX_PORT GATEWAY_PORT ADMIN_PORT < <(free_ports 3)

# --- nginx, the reference proxy ----------------------------------------------------------------
mkdir -p "$WORK/nginx/logs" "$WORK/nginx/tmp"
cat >"$WORK/nginx/nginx.conf" <<NGINX_CONF
worker_processes $GATEWAY_THREADS;
worker_rlimit_nofile 16384;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/logs/error.log warn;
events { worker_connections 8192; }
http {
  access_log off;
  client_body_temp_path $WORK/nginx/tmp/body;
  proxy_temp_path $WORK/nginx/tmp/proxy;
  fastcgi_temp_path $WORK/nginx/tmp/fastcgi;
  uwsgi_temp_path $WORK/nginx/tmp/uwsgi;
  scgi_temp_path $WORK/nginx/tmp/scgi;
  keepalive_requests 1000000;
  upstream node {
    server 127.0.0.1:$NODE_PORT;
    keepalive 128;
    keepalive_requests 1000000;
  }
  server {
    listen 127.0.0.1:$NGINX_PORT backlog=4096;
    location / {
      proxy_pass http://node;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
      proxy_request_buffering off;
    }
  }
}
NGINX_CONF
"$NGINX" -p "$WORK/nginx/" -c "$WORK/nginx/nginx.conf" -g 'daemon off;' >"$WORK/nginx/stdout.log" 2>&1 &
PIDS+=($!)
wait_port "$NGINX_PORT" || { cat "$WORK/nginx/logs/error.log" >&2; echo "run.sh: nginx did not start" >&2; exit 1; }
log "nginx on port $NGINX_PORT ($GATEWAY_THREADS workers)"

# --- the gateway -------------------------------------------------------------------------------
GATEWAY_STATUS=missing
GATEWAY_NOTE="$GATEWAY is not built"
GATEWAY_PID=""
API_KEY=""
if [[ -x $GATEWAY ]]; then
  mkdir -p "$WORK/var"
  CIC_BENCH_GATEWAY_PORT=$GATEWAY_PORT CIC_BENCH_ADMIN_PORT=$ADMIN_PORT CIC_BENCH_NODE_PORT=$NODE_PORT \
    CIC_BENCH_VAR=$WORK/var "$GATEWAY" --config "$ROOT/bench/bench.yaml" --ready-file "$WORK/gateway.ready" \
    >"$WORK/gateway.log" 2>&1 &
  GATEWAY_PID=$!
  PIDS+=("$GATEWAY_PID")
  if wait_ready_file "$WORK/gateway.ready" "$GATEWAY_PID" && [[ -s $WORK/var/api-key ]]; then
    GATEWAY_PORT=$(json_field "$WORK/gateway.ready" http_port)
    API_KEY=$(tr -d '\r\n' <"$WORK/var/api-key")
    GATEWAY_STATUS=ok
    GATEWAY_NOTE=""
    log "cic-control pid $GATEWAY_PID on port $GATEWAY_PORT"
  else
    GATEWAY_NOTE="cic-control did not become ready: $(tail -n 3 "$WORK/gateway.log" | tr '\n' ' ')"
  fi
fi

BODY="{\"model\":\"$MODEL\",\"messages\":[{\"role\":\"user\",\"content\":\"Say hello to the benchmark.\"}],\"max_tokens\":16}"
STREAM_BODY="${BODY%\}},\"stream\":true}"
printf '%s' "$BODY" >"$WORK/body.json"
printf '%s' "$STREAM_BODY" >"$WORK/stream-body.json"

declare -A URL=(
  [direct]="http://127.0.0.1:$NODE_PORT/v1/chat/completions"
  [nginx]="http://127.0.0.1:$NGINX_PORT/v1/chat/completions"
  [gateway]="http://127.0.0.1:$GATEWAY_PORT/v1/chat/completions"
)
TARGETS=(direct nginx)

# One request through each target before loading it, so a broken path is reported as such
# instead of as a table full of errors.
smoke() {
  local target=$1 auth=()
  [[ $target == gateway ]] && auth=(-H "Authorization: Bearer $API_KEY")
  curl -sS -o "$WORK/smoke-$target.out" -w '%{http_code}' --max-time 10 "${auth[@]}" \
    -H 'Content-Type: application/json' --data-binary "@$WORK/body.json" "${URL[$target]}" 2>/dev/null || true
}
for t in direct nginx; do
  code=$(smoke "$t")
  [[ $code == 200 ]] || { echo "run.sh: $t answered HTTP $code: $(head -c 300 "$WORK/smoke-$t.out")" >&2; exit 1; }
done
if [[ $GATEWAY_STATUS == ok ]]; then
  code=$(smoke gateway)
  if [[ $code == 200 ]]; then
    TARGETS+=(gateway)
  else
    GATEWAY_STATUS=failed
    GATEWAY_NOTE="cic-control answered the smoke request with HTTP $code: $(head -c 300 "$WORK/smoke-gateway.out")"
  fi
fi
[[ $GATEWAY_STATUS == ok ]] || log "gateway rows missing: $GATEWAY_NOTE"

# --- gateway memory sampler --------------------------------------------------------------------
# VmRSS every 200 ms, read with bash builtins so the sampler itself costs almost nothing.
if [[ $GATEWAY_STATUS == ok ]]; then
  (
    while [[ -r /proc/$GATEWAY_PID/status ]]; do
      while read -r key value _; do
        [[ $key == VmRSS: ]] && { echo "$value" >>"$WORK/rss.txt"; break; }
      done <"/proc/$GATEWAY_PID/status" 2>/dev/null || true
      sleep 0.2
    done
  ) &
  PIDS+=($!)
fi

# --- scenarios ---------------------------------------------------------------------------------
mkdir -p "$WORK/results"
run_loadgen() {
  local scenario=$1 target=$2
  shift 2
  local auth=()
  [[ $target == gateway ]] && auth=(--header "Authorization: Bearer $API_KEY")
  log "$scenario / $target"
  if ! "$LOADGEN" --json --label "$scenario/$target" --url "${URL[$target]}" "${auth[@]}" "$@" \
    >"$WORK/results/$scenario.$target.json" 2>"$WORK/results/$scenario.$target.err"; then
    log "cic-loadgen failed for $scenario / $target: $(cat "$WORK/results/$scenario.$target.err")"
    rm -f "$WORK/results/$scenario.$target.json"
  fi
}

for t in "${TARGETS[@]}"; do
  run_loadgen open "$t" --body-file "$WORK/body.json" --rate "$RATE" --duration "$OPEN_S" \
    --warmup "$WARMUP_S" --connections "$CONNECTIONS" --max-connections $((CONNECTIONS * 4))
done
for t in "${TARGETS[@]}"; do
  run_loadgen closed "$t" --body-file "$WORK/body.json" --closed-loop --connections "$CONNECTIONS" \
    --duration "$CLOSED_S" --warmup 1
done
for t in "${TARGETS[@]}"; do
  run_loadgen stream "$t" --body-file "$WORK/stream-body.json" --stream --concurrency "$STREAMS" \
    --duration "$STREAM_S" --warmup 1
done

# Paced streams: the same 500 concurrent streams, but the node spaces tokens 20 ms apart, so the
# streams stay open and the machine is not saturated: time to first chunk then shows what the
# proxy adds per stream rather than how long the queue is.
curl -s -X POST "http://127.0.0.1:$NODE_PORT/sim/config" -H 'Content-Type: application/json' \
  -d "{\"inter_token_ms\": ${BENCH_PACED_INTER_TOKEN_MS:-20}}" >/dev/null
for t in "${TARGETS[@]}"; do
  run_loadgen paced "$t" --body-file "$WORK/stream-body.json" --stream --concurrency "$STREAMS" \
    --duration "$STREAM_S" --warmup 1
done
curl -s -X POST "http://127.0.0.1:$NODE_PORT/sim/config" -H 'Content-Type: application/json' \
  -d '{"inter_token_ms": 0}' >/dev/null

VM_HWM=""
if [[ $GATEWAY_STATUS == ok && -r /proc/$GATEWAY_PID/status ]]; then
  VM_HWM=$(awk '/^VmHWM:/ {print $2}' "/proc/$GATEWAY_PID/status")
fi

mkdir -p "$ROOT/bench/results"
python3 "$ROOT/bench/summarize.py" \
  --results "$WORK/results" \
  --out "$ROOT/bench/results/latest.json" \
  --gateway-status "$GATEWAY_STATUS" \
  --gateway-note "$GATEWAY_NOTE" \
  --rss-samples "$WORK/rss.txt" \
  --vm-hwm-kib "$VM_HWM" \
  --commit "$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"

# Micro-benchmarks of hot-path pieces: what each adds to one request. cic-bench-redis-limiter
# needs a Redis: a private, memory-only redis-server on a free loopback port, stopped afterwards
# (and by cleanup on any exit). Without redis-server the bench says it was skipped.
REDIS_SERVER=${REDIS_SERVER:-$(command -v redis-server || true)}
BENCH_REDIS_URL=""
if [[ -n $REDIS_SERVER && -x $REDIS_SERVER ]]; then
  read -r REDIS_PORT < <(free_ports 1)
  if "$REDIS_SERVER" --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
    --pidfile "$WORK/redis.pid" --logfile "$WORK/redis.log" --dir "$WORK" >/dev/null 2>&1 &&
    wait_port "$REDIS_PORT"; then
    for ((i = 0; i < 100; i++)); do [[ -s $WORK/redis.pid ]] && break; sleep 0.02; done
    REDIS_PID=$(cat "$WORK/redis.pid" 2>/dev/null || true)
    [[ -n $REDIS_PID ]] && PIDS+=("$REDIS_PID")
    BENCH_REDIS_URL="redis://127.0.0.1:$REDIS_PORT"
    log "redis-server pid ${REDIS_PID:-?} on port $REDIS_PORT (for cic-bench-redis-limiter)"
  else
    log "redis-server did not start: $(tail -n 3 "$WORK/redis.log" 2>/dev/null | tr '\n' ' ')"
  fi
else
  log "redis-server not found: cic-bench-redis-limiter will be skipped"
fi

# cic-bench-meter writes usage records into PostgreSQL: a private cluster (initdb in the work
# directory, a free loopback port, durable defaults: fsync on), stopped afterwards and by cleanup.
# It runs as the postgres user when this script runs as root (PostgreSQL refuses root). Without
# PostgreSQL, or with CIC_BENCH_POSTGRES_DSN already set, none is started.
PG_BIN=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}
BENCH_POSTGRES_DSN=${CIC_BENCH_POSTGRES_DSN:-}
as_pg() { if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi; }
if [[ -z $BENCH_POSTGRES_DSN && -n $PG_BIN && -x $PG_BIN/initdb ]]; then
  read -r PG_PORT < <(free_ports 1)
  mkdir -p "$WORK/pg" "$WORK/pgsock"
  if [[ $(id -u) -eq 0 ]]; then chmod 755 "$WORK"; chown postgres:postgres "$WORK/pg" "$WORK/pgsock"; fi
  if as_pg "$PG_BIN/initdb" -D "$WORK/pg/data" -U cic --auth=trust -E UTF8 >"$WORK/pg-initdb.log" 2>&1 &&
    as_pg "$PG_BIN/pg_ctl" -D "$WORK/pg/data" -l "$WORK/pg/server.log" -w -t 30 start \
      -o "-p $PG_PORT -k $WORK/pgsock -c listen_addresses=127.0.0.1" >/dev/null &&
    as_pg "$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U cic cic_bench; then
    BENCH_POSTGRES_DSN="postgresql://cic@127.0.0.1:$PG_PORT/cic_bench"
    PG_STARTED=1
    trap 'as_pg "$PG_BIN/pg_ctl" -D "$WORK/pg/data" -m immediate -w stop >/dev/null 2>&1 || true; cleanup' EXIT
    log "postgres on port $PG_PORT (for cic-bench-meter)"
  else
    log "postgres did not start: $(tail -n 3 "$WORK/pg-initdb.log" "$WORK/pg/server.log" 2>/dev/null | tr '\n' ' ')"
  fi
fi

echo
echo "hot-path micro-benchmarks (single operations, timed one by one; the limiter ones also paced):"
for micro in "$BUILD"/bin/cic-bench-*; do
  [[ -x $micro ]] && CIC_BENCH_REDIS_URL=$BENCH_REDIS_URL CIC_BENCH_POSTGRES_DSN=$BENCH_POSTGRES_DSN \
    CIC_BENCH_WAL_DIR=${CIC_BENCH_WAL_DIR:-$WORK} "$micro"
done

if [[ -n ${PG_STARTED:-} ]]; then
  as_pg "$PG_BIN/pg_ctl" -D "$WORK/pg/data" -m fast -w stop >/dev/null 2>&1 || true
fi

if [[ -n ${REDIS_PID:-} ]]; then
  kill "$REDIS_PID" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do kill -0 "$REDIS_PID" 2>/dev/null || break; sleep 0.05; done
  if ! kill -0 "$REDIS_PID" 2>/dev/null; then  # gone: cleanup must not signal a reused pid
    KEPT=()
    for pid in "${PIDS[@]}"; do [[ $pid == "$REDIS_PID" ]] || KEPT+=("$pid"); done
    PIDS=("${KEPT[@]}")
  fi
fi
