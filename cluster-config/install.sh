#!/usr/bin/env bash
# Installs every Debian package dibs needs to build, run and test, with
# apt-get. Does nothing when all are installed already.
set -euo pipefail

packages=(
  build-essential cmake pkg-config
  libcaf-dev libboost-dev libboost-system-dev
  libhiredis-dev librdkafka-dev libmysqlcppconn-dev
  nlohmann-json3-dev libspdlog-dev libcli11-dev
  mariadb-server mariadb-client redis-server
  python3 curl wrk nginx-light
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
    || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
