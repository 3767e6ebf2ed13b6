#include "actors/supervisor.hpp"

#include <algorithm>

#include <caf/send.hpp>
#include <spdlog/spdlog.h>

namespace dibs {

const char* to_string(child_kind x) {
  switch (x) {
    case child_kind::stock: return "stock";
    case child_kind::writer: return "writer";
    case child_kind::snapshotter: return "snapshotter";
    case child_kind::resolver: return "resolver";
    case child_kind::producer: return "producer";
  }
  return "?";
}

std::chrono::milliseconds supervisor_state::backoff(const child& c) const {
  auto wait = settings.initial_backoff;
  for (size_t i = 1; i < c.crashes && wait < settings.max_backoff; ++i)
    wait *= 2;
  return std::max(std::min(wait, settings.max_backoff), c.spec.min_delay);
}

void supervisor_state::show(child& c, const char* state) {
  c.view.state = state;
  c.view.crashes_in_a_row = c.crashes;
  if (board)
    board->set(c.spec.name, c.view);
}

namespace {

void count_restart(node_metrics& m, child_kind kind) {
  switch (kind) {
    case child_kind::stock:
      m.stock_restarts.fetch_add(1, std::memory_order_relaxed);
      break;
    case child_kind::writer:
      m.writer_restarts.fetch_add(1, std::memory_order_relaxed);
      break;
    default:
      m.other_restarts.fetch_add(1, std::memory_order_relaxed);
      break;
  }
}

} // namespace

caf::behavior supervisor_actor(caf::stateful_actor<supervisor_state>* self,
                               supervisor_settings settings,
                               node_metrics* metrics,
                               supervision_board* board) {
  self->state.settings = settings;
  self->state.metrics = metrics;
  self->state.board = board;
  self->set_down_handler([self](caf::down_msg& msg) {
    auto& st = self->state;
    auto n = st.names.find(msg.source);
    if (n == st.names.end())
      return;
    auto name = n->second;
    st.names.erase(n);
    // A child given up and supervised anew under its name (a stock actor
    // whose shard came back) is not the one that went down.
    auto i = st.children.find(name);
    if (i == st.children.end() || i->second.spec.hdl.address() != msg.source)
      return;
    auto& c = i->second;
    if (st.stopping || msg.reason == caf::exit_reason::normal
        || msg.reason == caf::exit_reason::user_shutdown) {
      if (st.board)
        st.board->erase(name);
      st.children.erase(name);
      return;
    }
    auto now = std::chrono::steady_clock::now();
    if (now - c.started >= st.settings.stable_after)
      c.crashes = 0;
    c.crashes += 1;
    if (c.spec.on_down)
      c.spec.on_down();
    auto wait = st.backoff(c);
    auto& history = c.view.history;
    if (history.size() == supervision_board::history_per_child)
      history.erase(history.begin());
    history.push_back({now_ms(), to_string(msg.reason)});
    auto looping = c.crashes > st.settings.crash_loop_after;
    st.show(c, looping ? "crash loop" : "restarting");
    if (looping)
      spdlog::error("{} is in a crash loop: {} crashes in a row, last: {}; "
                    "next restart in {} ms",
                    name, c.crashes, to_string(msg.reason), wait.count());
    else
      spdlog::warn("{} crashed ({}); restart #{} in {} ms", name,
                   to_string(msg.reason), c.crashes, wait.count());
    c.restart_due = true;
    self->delayed_send(self, wait, restart_atom::value, name);
  });
  return {
    [=](supervise_atom, child_spec& spec) {
      auto& st = self->state;
      auto name = spec.name;
      self->monitor(spec.hdl);
      st.names[spec.hdl.address()] = name;
      auto& c = st.children[name];
      c.restart_due = false;
      c.spec = std::move(spec);
      c.started = std::chrono::steady_clock::now();
      c.view.name = name;
      c.view.kind = to_string(c.spec.kind);
      c.view.started = now_ms();
      st.show(c, "running");
    },
    [=](restart_atom, const std::string& name) {
      auto& st = self->state;
      auto i = st.children.find(name);
      if (st.stopping || i == st.children.end() || !i->second.restart_due)
        return;
      auto& c = i->second;
      auto hdl = c.spec.restart();
      if (!hdl) {
        c.crashes += 1;
        auto wait = st.backoff(c);
        spdlog::warn("{} could not be restarted ({}); next try in {} ms",
                     name, to_string(hdl.error()), wait.count());
        st.show(c, c.crashes > st.settings.crash_loop_after ? "crash loop"
                                                            : "restarting");
        self->delayed_send(self, wait, restart_atom::value, name);
        return;
      }
      if (!*hdl) {
        // Not needed any more (a stock actor whose shard moved).
        spdlog::info("{} is not restarted: no longer needed", name);
        if (st.board)
          st.board->erase(name);
        st.children.erase(i);
        return;
      }
      count_restart(*st.metrics, c.spec.kind);
      c.restart_due = false;
      c.spec.hdl = *hdl;
      c.started = std::chrono::steady_clock::now();
      self->monitor(c.spec.hdl);
      st.names[c.spec.hdl.address()] = name;
      c.view.restarts += 1;
      c.view.started = now_ms();
      st.show(c, "running");
      spdlog::info("{} restarted", name);
    },
    [=](stop_atom) {
      self->state.stopping = true;
      return true;
    },
  };
}

} // namespace dibs
