#!/usr/bin/env bash
# Measures dibs' hand-written metrics against prometheus-cpp 1.0.1, the
# library docs/performance.md explains we did not adopt:
#
#   bash tests/bench/metrics.sh
#
# Builds tests/bench/metrics/bench.cpp with this checkout's metric sources
# into $DIBS_BUILD_DIR/bench-metrics/ (g++, -O2 -g -DNDEBUG like
# RelWithDebInfo), then runs ROUNDS rounds (default 5) of every test, ours
# and theirs back to back, which side first alternating by round, and
# prints the median and range per test and the ratio theirs/ours paired
# within each round. Then the memory figures and the format differences of
# the two /metrics pages. Takes about a minute per round on 2 cores.
#
# prometheus-cpp-dev is not a dependency of dibs (cluster-config/install.sh
# does not install it): only this benchmark needs it, and it installs the
# package with apt-get when it is missing. The format check uses
# python3-prometheus-client (install.sh --tests).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${DIBS_BUILD_DIR:-$root/build}/bench-metrics
rounds=${ROUNDS:-5}

if ! dpkg -s prometheus-cpp-dev >/dev/null 2>&1; then
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq \
    --no-install-recommends prometheus-cpp-dev >/dev/null
fi

mkdir -p "$out"
cxx=(g++ -std=c++17 -O2 -g -DNDEBUG -Wall -Wextra -DFMT_SHARED -I"$root")
objs=()
for src in core/histogram gateway/metrics actors/node_metrics actors/introspection; do
  obj=$out/${src//\//_}.o
  "${cxx[@]}" -c "$root/$src.cpp" -o "$obj"
  objs+=("$obj")
done
"${cxx[@]}" -c "$here/metrics/bench.cpp" -o "$out/bench.o"
g++ "$out/bench.o" "${objs[@]}" -o "$out/bench" -lprometheus-cpp-core -lfmt -pthread

bench=$out/bench
results=$out/results.txt
: >"$results"
for round in $(seq 1 "$rounds"); do
  sides="ours theirs"
  [ $((round % 2)) -eq 0 ] && sides="theirs ours"
  echo "# round $round $(date +%T) load $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$results"
  for threads in 1 2; do
    for test in hist counter gateway stock kafka; do
      for side in $sides; do "$bench" $test $side $threads; done
      if [ $test = gateway ]; then "$bench" gateway lookup $threads; fi
    done
  done >>"$results"
  for side in $sides split; do "$bench" render $side; done >>"$results"
done
/usr/bin/python3 "$here/metrics/summarize.py" "$results"
echo
"$bench" mem
"$bench" dump "$out"
/usr/bin/python3 "$here/metrics/check_format.py" "$out"
