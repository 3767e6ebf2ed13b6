#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <string>

#include <caf/actor.hpp>
#include <caf/behavior.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

#include "actors/introspection.hpp"
#include "actors/node_metrics.hpp"
#include "actors/protocol.hpp"

namespace dibs {

/// What kind of actor a child is, for the restart counters.
enum class child_kind : uint8_t { stock, writer, snapshotter, resolver, producer };

const char* to_string(child_kind x);

/// One supervised actor and how to replace it.
struct child_spec {
  /// Unique among the children: "writer-0", "stock-12".
  std::string name;
  child_kind kind = child_kind::writer;
  caf::actor hdl;
  /// Starts a replacement; runs in the supervisor's thread. An error counts
  /// as another crash; an invalid handle means the child is not needed any
  /// more, and it is forgotten.
  std::function<caf::expected<caf::actor>()> restart;
  /// Runs at once when the child died, before any backoff.
  std::function<void()> on_down;
  /// The least wait before a restart, whatever the backoff.
  std::chrono::milliseconds min_delay{0};
};

struct supervisor_settings {
  /// The first restart waits this long, each further one of a crash loop
  /// twice as long, up to `max_backoff`.
  std::chrono::milliseconds initial_backoff{100};
  std::chrono::milliseconds max_backoff{10'000};
  /// A child that ran this long before it crashed starts over at the
  /// initial backoff.
  std::chrono::milliseconds stable_after{30'000};
  /// This many crashes in a row without a stable run is a crash loop,
  /// logged as an error at each further crash.
  size_t crash_loop_after = 5;
};

/// Restarts crashed actors with capped exponential backoff. It monitors
/// every child it is given; a child that exits normally or is shut down is
/// forgotten, one that fails is restarted, counted
/// (`dibs_supervisor_restarts_total`) and logged, and a crash loop says so.
/// Runs detached: restarting a stock actor recovers it from the stores.
struct supervisor_state {
  static inline const char* name = "dibs.supervisor";

  struct child {
    child_spec spec;
    size_t crashes = 0;
    /// A restart is scheduled for the child that crashed; a child
    /// supervised anew under the same name meanwhile cancels it.
    bool restart_due = false;
    std::chrono::steady_clock::time_point started;
    /// What the board shows of it.
    child_view view;
  };

  supervisor_settings settings;
  node_metrics* metrics = nullptr;
  /// Where the tree is shown; null in tests that do not look.
  supervision_board* board = nullptr;
  std::map<std::string, child> children;
  std::map<caf::actor_addr, std::string> names;
  /// Set by stop_atom: children going down are not restarted any more.
  bool stopping = false;

  /// How long the next restart of `c` waits.
  std::chrono::milliseconds backoff(const child& c) const;

  /// Shows `c` on the board as `state`.
  void show(child& c, const char* state);
};

/// Takes (supervise_atom, child_spec), (restart_atom, name) and (stop_atom)
/// -> bool, answered once in effect (protocol.hpp).
caf::behavior supervisor_actor(caf::stateful_actor<supervisor_state>* self,
                               supervisor_settings settings,
                               node_metrics* metrics,
                               supervision_board* board);

} // namespace dibs

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(dibs::child_spec)
