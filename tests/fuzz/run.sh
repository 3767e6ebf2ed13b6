#!/usr/bin/env bash
# Builds and runs the libFuzzer targets (clang, ASan + UBSan).
#
#   bash tests/fuzz/run.sh build              configure and build them
#   bash tests/fuzz/run.sh TARGET [SECONDS]   fuzz one for SECONDS (60)
#
# TARGET is http_request or json_body. The run starts from the seed corpus
# in tests/fuzz/corpus/TARGET and keeps what it finds in
# $DIBS_BUILD_DIR/fuzz/corpus-TARGET (the seeds are never written); a
# crashing input is saved under $DIBS_BUILD_DIR/Testing/artifacts/fuzz/ and
# the run fails. CI runs each target for a bounded time through CTest
# (fuzz.*); run them longer by hand, e.g. an hour each:
#
#   bash tests/fuzz/run.sh build && bash tests/fuzz/run.sh http_request 3600
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${DIBS_BUILD_DIR:-$root/build}
out=$build/fuzz

case "${1:-}" in
  build)
    CXX=clang++ cmake -S "$here" -B "$out" -DCMAKE_BUILD_TYPE=None >/dev/null
    cmake --build "$out" -j2
    ;;
  http_request|json_body)
    target=$1
    seconds=${2:-60}
    dict=$here/http.dict
    [ "$target" = json_body ] && dict=$here/json.dict
    corpus=$out/corpus-$target
    artifacts=$build/Testing/artifacts/fuzz
    mkdir -p "$corpus" "$artifacts"
    "$out/fuzz_$target" -max_total_time="$seconds" -timeout=10 \
      -dict="$dict" -artifact_prefix="$artifacts/$target-" \
      -print_final_stats=1 "$corpus" "$here/corpus/$target"
    ;;
  *)
    echo "usage: $0 build | http_request|json_body [SECONDS]" >&2
    exit 2
    ;;
esac
