#!/usr/bin/env bash
# Configures and builds dibs into $DIBS_BUILD_DIR with two jobs.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cmake -S "$DIBS_ROOT" -B "$DIBS_BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$DIBS_BUILD_DIR" -j2
