#!/usr/bin/env bash
# Installs, from Debian 12's packages, whatever the build, `make run` and `make test` need and is
# missing. Does nothing (and asks no registry) when everything is already there.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config ccache
  libboost1.81-dev libssl-dev libpqxx-dev libhiredis-dev nlohmann-json3-dev libspdlog-dev
  prometheus-cpp-dev libyaml-cpp-dev libgtest-dev libgmock-dev libsqlite3-dev
  postgresql redis-server nginx-light python3 curl procps openssl
)

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done
# The OpenAI SDK test needs Node.js >= 18 and npm; take Debian's only when none is present.
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)

if ((${#missing[@]} == 0)); then
  exit 0
fi

echo "install-deps: installing ${missing[*]}" >&2
SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# --no-upgrade: never move a package the machine already has to another version.
$SUDO apt-get install -y -qq --no-upgrade --no-install-recommends "${missing[@]}"
