#!/usr/bin/env bash
# Installs every Debian package dibs needs to build, run and test, with
# apt-get. Does nothing when all are installed already.
#
#   bash cluster-config/install.sh           to build and run
#   bash cluster-config/install.sh --tests   also what only the tests use:
#                                            Chromium, the browser test's npm
#                                            packages, the Prometheus parser,
#                                            clang for the fuzz targets,
#                                            slowhttptest, Locust (PyPI)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

packages=(
  build-essential cmake pkg-config
  libcaf-dev libboost-dev libboost-system-dev
  libhiredis-dev librdkafka-dev libmysqlcppconn-dev
  nlohmann-json3-dev libspdlog-dev libcli11-dev libncurses-dev
  # Abseil's flat hash map holds a stock actor's users (16 bytes each).
  libabsl-dev
  mariadb-server mariadb-client redis-server
  python3 curl wrk nginx-light
  # The embedded Kafka broker runs on Debian's Java; Maven fetches it.
  openjdk-17-jre-headless maven
)
if [ "${1:-}" = "--tests" ]; then
  # The console's browser test: Debian's Chromium driven by playwright-core
  # (npm) on the machine's Node.js.
  packages+=(chromium)
  # /metrics is parsed with the Prometheus client's text-format parser.
  packages+=(python3-prometheus-client)
  # The libFuzzer targets: clang with its fuzzer and sanitizer runtimes.
  packages+=(clang libclang-rt-14-dev)
  # Slow-header and slow-body attacks.
  packages+=(slowhttptest)
  # Locust's virtual environment (below).
  packages+=(python3-venv)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
    || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The embedded Kafka broker: Apache Kafka's jars from Maven Central, pinned
# in cluster-config/kafka/pom.xml, into $DIBS_KAFKA_LIB (about 45 MB; 20-30 s
# the first time, nothing once they are there).
source "$root/cluster-config/env.sh"
if [ ! -f "$DIBS_KAFKA_LIB/.complete" ] \
   || [ "$root/cluster-config/kafka/pom.xml" -nt "$DIBS_KAFKA_LIB/.complete" ]; then
  echo "fetching Apache Kafka's jars with Maven into $DIBS_KAFKA_LIB"
  rm -rf "$DIBS_KAFKA_LIB"
  mkdir -p "$DIBS_KAFKA_LIB"
  mvn -B -f "$root/cluster-config/kafka/pom.xml" \
    dependency:copy-dependencies -DoutputDirectory="$DIBS_KAFKA_LIB" \
    >"$DIBS_KAFKA_LIB/../maven.log" 2>&1 || {
    tail -40 "$DIBS_KAFKA_LIB/../maven.log" >&2
    echo "install.sh: Maven could not fetch Kafka's jars" >&2
    exit 1
  }
  touch "$DIBS_KAFKA_LIB/.complete"
fi

# The load scenarios' second generator beside dibsctl load: Locust from
# PyPI, pinned in cli/locust/requirements.txt, in a virtual environment of
# its own under the build folder (about 10 s the first time).
if [ "${1:-}" = "--tests" ]; then
  venv=$DIBS_BUILD_DIR/locust
  if [ ! -f "$venv/.complete" ] \
     || [ "$root/cli/locust/requirements.txt" -nt "$venv/.complete" ]; then
    echo "installing Locust into $venv"
    rm -rf "$venv"
    /usr/bin/python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check \
      -r "$root/cli/locust/requirements.txt"
    touch "$venv/.complete"
  fi
fi

if [ "${1:-}" = "--tests" ] && [ ! -d "$root/tests/browser/node_modules/playwright-core" ]; then
  command -v npm >/dev/null || { echo "install.sh: npm (Node.js) is needed for the browser test" >&2; exit 1; }
  (cd "$root/tests/browser" && npm ci --no-audit --no-fund --loglevel=error)
fi
