// annals -- event-sourced aggregates on the C++ Actor Framework.
// Part of the cluster module (internal): the cursor of a cluster-wide
// subscription.
//
// # Operation
// One outstanding fetch per member node, for the partitions that node owns
// in the latest view (asked from the local node actor before each fetch),
// after the cursor's per-partition positions. Replies are delivered to the
// subscriber one batch at a time, in arrival order; events at or before a
// partition's position are dropped (a fetch from a previous owner may
// overlap), so each partition's events arrive once, in position order --
// per-stream order across hand-offs, since positions are the same on every
// node. A refused event is retried from a fetch 200 ms later (no parking).
//
// # Progress
// Every reply carries the ends of its partitions at the owner; the cursor
// publishes them with its positions to its probe, so its lag is the events
// of all partitions it has not read past. While a batch is with the
// subscriber no fetch runs, so the cursor asks the owners for their ends
// alone (a fetch of no events, answered at the owner's long-poll deadline,
// about a second) for as long as the delivery lasts.
//
// # Concurrency
// Actor-confined.
#include "annals/log.hpp"
#include "annals/runtime_types.hpp"
#include "annals/subscription.hpp"

#include "node_actor.hpp"
#include "protocol.hpp"

#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

#include <algorithm>
#include <chrono>
#include <deque>
#include <set>

namespace annals::cluster::detail {

namespace {

using retry_atom = caf::atom_constant<caf::atom("c_retry")>;

// -- cluster-wide cursor ------------------------------------------------------

struct cursor_state {
  static inline const char* name = "annals.cluster.cursor";

  cursor_state() = default;

  caf::actor node;
  caf::actor subscriber;
  uint32_t parts = 0;
  std::string category;
  std::string id;
  uint32_t max_events = 1024;
  std::vector<uint64_t> after;
  std::vector<std::string> owners;
  std::set<std::string> fetching;
  std::deque<std::pair<fetch_request, fetch_reply>> ready;
  bool delivering = false;
  std::shared_ptr<annals::detail::cursor_probe> probe;
  std::set<std::string> peeking; ///< owners asked for their ends alone
};

using cursor_type = caf::stateful_actor<cursor_state>;

class cursor_logic {
public:
  explicit cursor_logic(cursor_type* self) : self_(self) {
  }

  void refresh() {
    auto& s = self_->state;
    self_->request(s.node, caf::infinite, owners_atom::value)
      .then(
        [this](uint64_t, std::vector<std::string>& owners) {
          auto& ns = self_->state;
          ns.owners = std::move(owners);
          std::set<std::string> names(ns.owners.begin(), ns.owners.end());
          for (const auto& n : names)
            if (!ns.fetching.count(n))
              fetch(n);
          if (names.empty())
            self_->delayed_send(self_, std::chrono::milliseconds{200},
                                retry_atom::value);
        },
        [this](caf::error&) {
          self_->delayed_send(self_, std::chrono::milliseconds{200},
                              retry_atom::value);
        });
  }

  /// A fetch of the partitions `n` owns, after the cursor's positions, of
  /// at most `max_events` events (0: only the partitions' ends).
  fetch_request request_for(const std::string& n, uint32_t max_events) const {
    const auto& s = self_->state;
    fetch_request req;
    for (uint32_t p = 0; p < s.parts && p < s.owners.size(); ++p)
      if (s.owners[p] == n) {
        req.partitions.push_back(p);
        req.after.push_back(s.after[p]);
      }
    req.max_events = max_events;
    req.category = s.category;
    req.id = s.id;
    return req;
  }

  void fetch(const std::string& n) {
    auto& s = self_->state;
    auto req = request_for(n, s.max_events);
    if (req.partitions.empty())
      return;
    s.fetching.insert(n);
    self_->request(s.node, caf::infinite, fetch_atom::value, n, req)
      .then(
        [this, n, req](fetch_reply& rep) mutable {
          self_->state.fetching.erase(n);
          note_ends(req, rep);
          self_->state.ready.emplace_back(std::move(req), std::move(rep));
          pump();
        },
        [this, n](caf::error&) {
          self_->state.fetching.erase(n);
          self_->delayed_send(self_, std::chrono::milliseconds{200},
                              retry_atom::value);
        });
  }

  void pump() {
    auto& s = self_->state;
    if (s.delivering || s.ready.empty())
      return;
    auto [req, rep] = std::move(s.ready.front());
    s.ready.pop_front();
    std::vector<recorded_event> events;
    for (auto& w : rep.events)
      if (w.partition < s.parts && w.pos > s.after[w.partition])
        events.push_back(from_wire(w));
    auto advance = [this, req, rep] {
      auto& ns = self_->state;
      for (std::size_t i = 0;
           i < req.partitions.size() && i < rep.reached.size(); ++i) {
        auto p = req.partitions[i];
        ns.after[p] = std::max(ns.after[p], rep.reached[i]);
      }
      publish();
    };
    if (events.empty()) {
      advance();
      refresh();
      pump();
      return;
    }
    s.delivering = true;
    peek();
    auto copy = events;
    self_
      ->request(s.subscriber, caf::infinite, event_batch{0, std::move(events)})
      .then(
        [this, advance, copy](batch_done& d) {
          auto& ns = self_->state;
          ns.delivering = false;
          if (d.handled >= copy.size()) {
            advance();
          } else {
            for (std::size_t i = 0; i < d.handled; ++i)
              ns.after[copy[i].partition]
                = std::max(ns.after[copy[i].partition], copy[i].pos);
            publish();
            // Not at network speed: a refusal that persists (a full disk
            // under a projection) would spin and flood the log.
            log(log_level::warning,
                "cluster subscription: event refused, retrying in 200 ms: "
                  + d.error);
            self_->delayed_send(self_, std::chrono::milliseconds{200},
                                retry_atom::value);
            pump();
            return;
          }
          refresh();
          pump();
        },
        [this](caf::error&) { self_->quit(); });
  }

  // -- progress ---------------------------------------------------------------

  /// Publishes the positions to the probe.
  void publish() {
    auto& s = self_->state;
    if (!s.probe)
      return;
    for (uint32_t p = 0; p < s.parts && p < s.probe->partitions; ++p)
      s.probe->reached[p].store(s.after[p], std::memory_order_relaxed);
    s.probe->started.store(true, std::memory_order_release);
  }

  /// Records the partitions' ends that a reply reports.
  void note_ends(const fetch_request& req, const fetch_reply& rep) {
    auto& s = self_->state;
    if (!s.probe)
      return;
    for (std::size_t i = 0; i < req.partitions.size() && i < rep.ends.size();
         ++i) {
      auto p = req.partitions[i];
      if (p >= s.probe->partitions)
        continue;
      auto& end = s.probe->known_end[p];
      if (rep.ends[i] > end.load(std::memory_order_relaxed))
        end.store(rep.ends[i], std::memory_order_relaxed);
    }
  }

  /// While a batch is delivered: asks each owner not asked yet for its
  /// partitions' ends (no events), and again after each answer.
  void peek() {
    auto& s = self_->state;
    if (!s.probe || !s.delivering)
      return;
    std::set<std::string> names(s.owners.begin(), s.owners.end());
    for (const auto& n : names) {
      if (n.empty() || s.peeking.count(n))
        continue;
      auto req = request_for(n, 0);
      if (req.partitions.empty())
        continue;
      s.peeking.insert(n);
      self_->request(s.node, caf::infinite, fetch_atom::value, n, req)
        .then(
          [this, n, req](fetch_reply& rep) {
            self_->state.peeking.erase(n);
            note_ends(req, rep);
            peek();
          },
          [this, n](caf::error&) { self_->state.peeking.erase(n); });
    }
  }

private:
  cursor_type* self_;
};

caf::behavior
cursor_behavior(cursor_type* self, caf::actor node, caf::actor subscriber,
                uint32_t partitions, std::string category, std::string id,
                std::vector<uint64_t> after, uint32_t max_events,
                std::shared_ptr<annals::detail::cursor_probe> probe) {
  auto& s = self->state;
  s.probe = std::move(probe);
  s.node = std::move(node);
  s.subscriber = std::move(subscriber);
  s.parts = partitions;
  s.category = std::move(category);
  s.id = std::move(id);
  s.after = std::move(after);
  s.after.resize(partitions, 0);
  s.max_events = max_events;
  self->monitor(s.subscriber);
  self->set_down_handler([self](caf::down_msg&) { self->quit(); });
  auto logic = std::make_shared<cursor_logic>(self);
  logic->publish();
  logic->refresh();
  return {
    [logic](retry_atom) { logic->refresh(); },
    [self](stop_atom) { self->quit(); },
  };
}

} // namespace

caf::actor
spawn_cluster_cursor(caf::actor_system& sys, caf::actor node,
                     caf::actor subscriber, uint32_t partitions,
                     std::string category, std::string id,
                     std::vector<uint64_t> after, uint32_t max_events,
                     std::shared_ptr<annals::detail::cursor_probe> probe) {
  return sys.spawn(cursor_behavior, std::move(node), std::move(subscriber),
                   partitions, std::move(category), std::move(id),
                   std::move(after), max_events, std::move(probe));
}

} // namespace annals::cluster::detail
