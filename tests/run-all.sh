#!/usr/bin/env bash
# `make test`: start a throw-away PostgreSQL and Redis on loopback, run every ctest suite against
# them, stop them again, and exit non-zero on any failure.
set -euo pipefail
BUILD_DIR=$(cd "${1:-build}" && pwd)
ROOT=$(cd "$(dirname "$0")/.." && pwd)
source "$ROOT/tests/services.sh"

WORK=$(mktemp -d /tmp/cic-test.XXXXXX)
chmod 755 "$WORK"
cleanup() {
  services_stop
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

# The OpenAI SDK compatibility test needs the official SDK (npm registry; pinned by package-lock).
if [[ ! -d "$ROOT/tests/sdk/node_modules/openai" ]]; then
  (cd "$ROOT/tests/sdk" && npm ci --no-audit --no-fund --loglevel=error)
fi

services_start "$WORK"
export CIC_TEST_POSTGRES_DSN CIC_TEST_REDIS_URL CIC_TEST_REDIS_PORT CIC_TEST_PG_PORT
export CIC_BUILD_DIR="$BUILD_DIR"

echo "make test: PostgreSQL on 127.0.0.1:$CIC_TEST_PG_PORT, Redis on 127.0.0.1:$CIC_TEST_REDIS_PORT"
cd "$BUILD_DIR"
ctest --output-on-failure -j 2 --timeout 600
