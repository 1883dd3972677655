#!/usr/bin/env bash
# `make run`: start local cic-node-sim nodes (the ones config/dev.yaml names) and cic-control on the
# embedded default (SQLite under var/, in-process limits), print how to call it, and stop
# everything on Ctrl-C.
set -euo pipefail
BUILD_DIR=${1:-build}
CONFIG=${2:-config/dev.yaml}
BIN="$BUILD_DIR/bin"
mkdir -p var/log
pids=()
cleanup() {
  trap - EXIT INT TERM
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_ready() {  # wait_ready FILE PID NAME
  for _ in $(seq 1 200); do
    [[ -s "$1" ]] && return 0
    kill -0 "$2" 2>/dev/null || { echo "make run: $3 exited; see var/log/$3.log" >&2; tail -n 20 "var/log/$3.log" >&2; exit 1; }
    sleep 0.05
  done
  echo "make run: $3 did not become ready; see var/log/$3.log" >&2
  exit 1
}

start_sim() {  # start_sim NAME PORT MODEL:KIND [extra flags]
  local name=$1 port=$2 model=$3
  shift 3
  rm -f "var/$name.ready"
  "$BIN/cic-node-sim" --listen "127.0.0.1:$port" --model "$model" --threads 1 \
    --ttft-ms "${CIC_SIM_TTFT_MS:-40}" --inter-token-ms "${CIC_SIM_INTER_TOKEN_MS:-15}" \
    --ready-file "var/$name.ready" "$@" >"var/log/$name.log" 2>&1 &
  pids+=($!)
  wait_ready "var/$name.ready" $! "$name"
}

# The nodes of config/dev.yaml; delays make streaming visible to a human.
start_sim sim-llama-1 18101 llama-3.1-8b-instruct:chat
start_sim sim-mistral-1 18102 mistral-7b-instruct:chat
start_sim sim-embed-1 18103 bge-small-en-v1.5:embedding

# The dev operator token: generated once into var/ (mode 0600) unless CIC_ADMIN_TOKEN is given.
if [[ -z "${CIC_ADMIN_TOKEN:-}" ]]; then
  [[ -s var/dev-admin-token ]] || (umask 077 && openssl rand -hex 24 >var/dev-admin-token)
  CIC_ADMIN_TOKEN=$(cat var/dev-admin-token)
  export CIC_ADMIN_TOKEN
fi

rm -f var/cic-control.ready
"$BIN/cic-control" --config "$CONFIG" --ready-file var/cic-control.ready 2> >(tee var/log/cic-control.log >&2) &
pids+=($!)
wait_ready var/cic-control.ready $! cic-control

read_field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }
HTTP_PORT=$(read_field var/cic-control.ready http_port)
ADMIN_PORT=$(read_field var/cic-control.ready admin_port)
KEY_FILE=$(read_field var/cic-control.ready api_key_file)
API_KEY=$(cat "$KEY_FILE")

cat <<MSG

cic-control is running (logs: var/log/). Ctrl-C stops it and its nodes.

CIC_BASE_URL=http://127.0.0.1:$HTTP_PORT/v1
CIC_API_KEY=$API_KEY
CIC_ADMIN_URL=http://127.0.0.1:$ADMIN_PORT/admin/v1
CIC_ADMIN_TOKEN=$CIC_ADMIN_TOKEN
CIC_METRICS_URL=http://127.0.0.1:$ADMIN_PORT/metrics

Try it:
curl -s http://127.0.0.1:$HTTP_PORT/v1/chat/completions -H "Authorization: Bearer $API_KEY" -H "Content-Type: application/json" -d '{"model":"llama-3.1-8b-instruct","messages":[{"role":"user","content":"Say hello"}]}'

Streamed:
curl -sN http://127.0.0.1:$HTTP_PORT/v1/chat/completions -H "Authorization: Bearer $API_KEY" -H "Content-Type: application/json" -d '{"model":"llama-3.1-8b-instruct","stream":true,"messages":[{"role":"user","content":"Say hello"}]}'

Admin API (create an org, an environment and a key):
curl -s http://127.0.0.1:$ADMIN_PORT/admin/v1/orgs -H "Authorization: Bearer $CIC_ADMIN_TOKEN" -H "Content-Type: application/json" -d '{"name":"acme","email":"ops@acme.example"}'

MSG
wait "${pids[-1]}"
