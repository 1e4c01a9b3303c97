// annals -- event-sourced aggregates on the C++ Actor Framework.
#include "shutdown_sequence.hpp"

#include <caf/event_based_actor.hpp>
#include <caf/exit_reason.hpp>

#include <pthread.h>

#include <cstring>
#include <unordered_set>

namespace annals::detail {

namespace {

struct sequence {
  std::vector<std::vector<caf::actor>> phases;
  std::size_t next = 0;
  std::size_t pending = 0;
  std::shared_ptr<std::promise<void>> done;
  /// CAF 0.17 destroys an actor that nobody holds strongly, also while it
  /// waits for messages (monitors hold it weakly): the sequence holds
  /// itself until its last phase is over.
  caf::actor keep_alive;
};

/// Starts phases until one has an actor to wait for; at the end, reports.
void advance(caf::event_based_actor* self, sequence& s) {
  while (s.pending == 0) {
    if (s.next == s.phases.size()) {
      s.done->set_value();
      self->quit();
      s.keep_alive = nullptr;
      return;
    }
    std::unordered_set<caf::actor_id> seen;
    for (auto& a : s.phases[s.next])
      if (a && seen.insert(a.id()).second) {
        ++s.pending;
        self->monitor(a);
        self->send_exit(a, caf::exit_reason::user_shutdown);
      }
    ++s.next;
  }
}

caf::behavior sequence_behavior(caf::event_based_actor* self,
                                std::shared_ptr<sequence> s) {
  s->keep_alive = caf::actor_cast<caf::actor>(self);
  self->set_down_handler([self, s](caf::down_msg&) {
    if (--s->pending == 0)
      advance(self, *s);
  });
  advance(self, *s);
  // Some behavior, or the actor would terminate at once.
  return {[](caf::ok_atom) {}};
}

} // namespace

void spawn_shutdown_sequence(caf::actor_system& sys,
                             std::vector<std::vector<caf::actor>> phases,
                             std::shared_ptr<std::promise<void>> done) {
  auto s = std::make_shared<sequence>();
  s->phases = std::move(phases);
  s->done = std::move(done);
  sys.spawn(sequence_behavior, std::move(s));
}

bool on_caf_thread() noexcept {
  char name[16] = {};
  if (pthread_getname_np(pthread_self(), name, sizeof name) != 0)
    return false;
  return std::strncmp(name, "caf.", 4) == 0;
}

} // namespace annals::detail
