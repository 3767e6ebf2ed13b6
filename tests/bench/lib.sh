# Sourced by the bench scripts that measure one node on fresh dependencies,
# after they set $root and the DIBS_* ports and run folder and sourced
# cluster-config/env.sh.

# Installs and builds, stops what an earlier run left in $DIBS_RUN_DIR and
# empties it, starts the dependencies and the node (the arguments are node
# options), and stops both when the script exits.
bench_fresh_node() {
  bash "$root/cluster-config/install.sh"
  bash "$root/cluster-config/build.sh" >/dev/null
  trap bench_stop EXIT
  bash "$root/cluster-config/deps.sh" stop >/dev/null
  rm -rf "$DIBS_RUN_DIR"
  bash "$root/cluster-config/deps.sh" start >/dev/null
  bash "$root/cluster-config/node.sh" start "$@" >/dev/null
}

bench_stop() {
  bash "$root/cluster-config/node.sh" stop >/dev/null || true
  bash "$root/cluster-config/deps.sh" stop >/dev/null || true
}

# CPU time (user and system, all threads, in clock ticks) the node, the
# broker and MariaDB have used so far, space-separated (0 for one gone).
bench_cpu_ticks() {
  local file
  for file in "$DIBS_RUN_DIR/$DIBS_NODE_NAME/dibs.pid" \
              "$DIBS_RUN_DIR/kafka/1/kafka.pid" "$DIBS_RUN_DIR/mysql/mysqld.pid"; do
    awk '{print $14 + $15}' "/proc/$(cat "$file")/stat" 2>/dev/null || echo 0
  done | paste -sd' '
}
