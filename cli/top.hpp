#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/commands.hpp"

namespace dibs::load {

/// `dibsctl top`: the console's live view in a terminal.
struct top_options {
  endpoints where;
  millis interval{1000};
  /// Frames to show before exiting; 0: until `q`.
  size_t iterations = 0;
  /// Print frames as plain text one after the other instead of a
  /// full-screen view (also when standard output is not a terminal).
  bool plain = false;
  /// Stock actors column to sort by, largest first: remaining, issued,
  /// waiting, mailbox, messages, restarts, coupon.
  std::string sort = "issued";
  /// Stock actors shown at most.
  size_t rows = 15;
};

/// What one poll of the introspection API returned.
struct top_sample {
  double at_s = 0; // steady clock, seconds
  nlohmann::json nodes, overview, stock, writers, supervision;
};

/// The lines of one frame; rates and latency quantiles are taken between
/// `before` (may be null: none yet) and `now`.
std::vector<std::string> render_top(const top_sample& now,
                                    const top_sample* before,
                                    const top_options& opts);

/// Polls the node every interval and shows the frames. Returns the exit
/// status: 0, or 2 when the node cannot be read (token refused, say).
int run_top(const top_options& opts);

} // namespace dibs::load
