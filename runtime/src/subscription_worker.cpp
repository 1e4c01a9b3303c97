// annals -- event-sourced aggregates on the C++ Actor Framework.
#include "subscription_worker.hpp"

#include "annals/errc.hpp"
#include "annals/failpoint.hpp"
#include "annals/log.hpp"
#include "annals/render.hpp"
#include "annals/runtime_types.hpp"

#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

#include <algorithm>
#include <cstdio>
#include <limits>
#include <map>
#include <random>
#include <set>
#include <unordered_map>
#include <unordered_set>
#include <utility>

namespace annals {

bool subscription_filter::matches(const event_view& ev) const noexcept {
  switch (what) {
  case kind::all:
    return ev.category.empty() || ev.category.front() != '$';
  case kind::category:
    return ev.category == category;
  case kind::stream:
    return ev.category == category && ev.id == id;
  }
  return false;
}

void model_writer::put(std::string key, std::string value) {
  batch_.models.push_back({model_, std::move(key), std::move(value), false});
}

void model_writer::erase(std::string key) {
  batch_.models.push_back({model_, std::move(key), {}, true});
}

std::optional<std::string> model_writer::get(const std::string& key) const {
  for (auto it = batch_.models.rbegin(); it != batch_.models.rend(); ++it)
    if (it->model == model_ && it->key == key)
      return it->erase ? std::nullopt : std::optional<std::string>{it->value};
  auto stored = store_.load_model(model_, key);
  if (!stored)
    return std::nullopt;
  return *stored;
}

namespace detail {

// -- parked events ------------------------------------------------------------

std::string parked_model(const std::string& consumer) {
  return "annals.parked/" + consumer;
}

namespace {

/// Parked rows sort by stream, then revision: "<category>\0<id>\0<rev:020>".
std::string parked_key(std::string_view category, std::string_view id,
                       revision rev) {
  char num[24];
  std::snprintf(num, sizeof num, "%020llu",
                static_cast<unsigned long long>(rev));
  std::string key{category};
  key += '\0';
  key += id;
  key += '\0';
  key += num;
  return key;
}

std::string stream_key_of(std::string_view category, std::string_view id) {
  std::string key{category};
  key += '\0';
  key += id;
  return key;
}

} // namespace

caf::expected<std::vector<parked_event>>
list_parked(const journal& store, const std::string& consumer) {
  std::vector<parked_event> out;
  auto err = store.scan_model(
    parked_model(consumer), [&](std::string_view key, std::string_view value) {
      auto a = key.find('\0');
      auto b = key.find('\0', a + 1);
      if (a == std::string_view::npos || b == std::string_view::npos)
        return true;
      parked_event pe;
      pe.stream.category = std::string{key.substr(0, a)};
      pe.stream.id = std::string{key.substr(a + 1, b - a - 1)};
      pe.rev = std::stoull(std::string{key.substr(b + 1)});
      auto sp = value.find(' ');
      pe.pos = std::stoull(std::string{value.substr(0, sp)});
      if (sp != std::string_view::npos)
        pe.reason = std::string{value.substr(sp + 1)};
      out.push_back(std::move(pe));
      return true;
    });
  if (err)
    return err;
  return out;
}

// -- broker -------------------------------------------------------------------

caf::behavior broker(caf::event_based_actor* self, uint32_t partitions) {
  auto workers = std::make_shared<std::vector<caf::actor>>();
  self->set_down_handler([workers](caf::down_msg& dm) {
    auto& ws = *workers;
    ws.erase(std::remove_if(
               ws.begin(), ws.end(),
               [&](const caf::actor& w) { return w.address() == dm.source; }),
             ws.end());
  });
  return {
    [self, workers](sub_join_atom, const caf::actor& w) {
      self->monitor(w);
      workers->push_back(w);
      return caf::ok_atom::value;
    },
    [self, workers, partitions](wake_atom, std::vector<partition_id> parts) {
      parts.erase(
        std::remove_if(parts.begin(), parts.end(),
                       [&](partition_id p) { return p >= partitions; }),
        parts.end());
      for (const auto& w : *workers)
        self->send(w, wake_atom::value, parts);
    },
  };
}

// -- the cursor ---------------------------------------------------------------

namespace {

/// A subscription worker's backoff timer fired.
using retry_atom = caf::atom_constant<caf::atom("a_retry")>;

struct worker_state {
  static inline const char* name = "annals.subscription";

  // Not an aggregate: CAF 0.17 constructs a state from the actor pointer
  // when it can, which C++20 parenthesised aggregate init would allow.
  worker_state() = default;

  context_ptr ctx;
  uint64_t id = 0;
  subscription_options opts;
  caf::actor subscriber;
  uint32_t parts = 0;
  std::vector<position> acked;
  std::vector<position> saved;
  std::vector<uint8_t> dirty;
  uint32_t rr = 0;
  bool ready = false;
  bool in_flight = false;
  bool checkpointing = false;
  /// Where each event of the batch in flight came from (the events
  /// themselves moved into the message): enough to handle a partial ack.
  struct origin {
    partition_id partition;
    position pos;
    revision rev;
    std::string category;
    std::string id;
  };
  std::vector<origin> batch;
  std::vector<recorded_event> events;
  std::vector<std::pair<partition_id, position>> scanned;
  /// Log mode (catch-up of many partitions, see `pump_log`): every event of
  /// an interested partition before log sequence `log_next` is acked (0 =
  /// unknown); `log_resume` is where the batch in flight ends.
  uint64_t log_next = 0;
  uint64_t log_resume = 0;
  bool log_batch = false;
  /// Replication: partitions whose next event was beyond what readers may
  /// see (`runtime::set_visible`); a log scan skipped past it, so the wake
  /// that makes it visible sends the next log scan back (`relocate`).
  std::vector<uint8_t> blocked;
  bool relocate = false;
  std::vector<position> scan_end; ///< per partition, during a log scan
  std::string last_failed;
  uint32_t attempts = 0;
  /// Consecutive failed deliveries (of any kind): the backoff's exponent.
  uint32_t failures = 0;
  /// A redelivery is scheduled: nothing is delivered until it fires.
  bool backing_off = false;
  std::minstd_rand jitter;
  std::unordered_set<std::string> parked_streams;
  std::set<std::string> parked_keys;
  std::vector<model_write> unsaved_parked;
  std::size_t unsaved = 0;
  bool stream_only = false;
  partition_id stream_partition = 0;
  // Consumer groups: partitions this member may read; a revoke waiting for
  // the in-flight batch to finish.
  bool stopping = false;  ///< graceful stop requested (cancel)
  bool stop_done = false; ///< final checkpoint sent
  caf::actor coordinator;
  std::vector<uint8_t> assigned;
  std::vector<partition_id> revoking;
  caf::response_promise revoke_rp;
  std::shared_ptr<cursor_probe> probe; ///< progress for metrics (or null)
};

/// More partitions behind than this switch a worker to reading the log in
/// commit order (`worker::pump_log`).
constexpr uint32_t log_mode_partitions = 8;

class worker {
public:
  using actor_type = caf::stateful_actor<worker_state>;

  explicit worker(actor_type* self) : self_(self) {
  }

  void start() {
    auto& st = self_->state;
    self_
      ->request(st.ctx->broker, caf::infinite, sub_join_atom::value,
                caf::actor_cast<caf::actor>(self_))
      .then([this](caf::ok_atom) { init(); },
            [this](caf::error& err) { stop("cannot join broker", err); });
  }

  void init() {
    auto& st = self_->state;
    auto& store = *st.ctx->store;
    st.parts = store.partition_count();
    st.acked.assign(st.parts, 0);
    st.dirty.assign(st.parts, 0);
    st.blocked.assign(st.parts, 0);
    st.assigned.assign(st.parts, st.coordinator ? 0 : 1);
    if (st.opts.filter.what == subscription_filter::kind::stream) {
      st.stream_only = true;
      st.stream_partition = partition_of(
        stream_id{st.opts.filter.category, st.opts.filter.id}, st.parts);
    }
    auto ends = store.partition_ends();
    if (!ends)
      return stop("cannot read partition ends", ends.error());
    bool from_checkpoint = st.opts.start == start_from::checkpoint
                           || st.opts.checkpoint_by_handler;
    if (from_checkpoint && !st.opts.consumer.empty()) {
      for (partition_id p = 0; p < st.parts; ++p) {
        auto cp = store.load_checkpoint(st.opts.consumer, p);
        if (!cp)
          return stop("cannot read checkpoints", cp.error());
        st.acked[p] = cp->value_or(0);
      }
    } else if (st.opts.start == start_from::now) {
      st.acked = *ends;
    } else if (st.stream_only && st.opts.from_revision > 1) {
      auto prev = store.read_stream(
        stream_id{st.opts.filter.category, st.opts.filter.id},
        st.opts.from_revision - 1, 1);
      if (!prev)
        return stop("cannot read the start revision", prev.error());
      if (!prev->empty())
        st.acked[st.stream_partition] = prev->front().pos;
    } else if (!st.opts.from_positions.empty()) {
      for (partition_id p = 0;
           p < st.parts && p < st.opts.from_positions.size(); ++p)
        st.acked[p] = st.opts.from_positions[p];
    }
    st.saved = st.acked;
    if (!st.opts.consumer.empty()) {
      auto parked = list_parked(store, st.opts.consumer);
      if (!parked)
        return stop("cannot read parked events", parked.error());
      for (const auto& pe : *parked) {
        st.parked_streams.insert(
          stream_key_of(pe.stream.category, pe.stream.id));
        st.parked_keys.insert(
          parked_key(pe.stream.category, pe.stream.id, pe.rev));
      }
    }
    for (partition_id p = 0; p < st.parts; ++p)
      if ((*ends)[p] > st.acked[p] && interested(p))
        st.dirty[p] = 1;
    st.ready = true;
    if (st.coordinator)
      join_group();
    pump();
  }

  bool interested(partition_id p) const {
    const auto& st = self_->state;
    if (st.coordinator && !st.assigned[p])
      return false;
    if (st.opts.leading_only && !st.ctx->leads(p))
      return false;
    return !st.stream_only || p == st.stream_partition;
  }

  // -- consumer groups --------------------------------------------------------

  void join_group() {
    auto& st = self_->state;
    self_
      ->request(st.coordinator, caf::infinite, group_join_atom::value,
                caf::actor_cast<caf::actor>(self_))
      .then([](caf::ok_atom) {},
            [this](caf::error& err) { stop("cannot join group", err); });
  }

  void on_assign(const std::vector<partition_id>& parts) {
    auto& st = self_->state;
    auto& store = *st.ctx->store;
    for (auto p : parts) {
      if (p >= st.parts)
        continue;
      auto cp = store.load_checkpoint(st.opts.consumer, p);
      if (!cp)
        return stop("cannot read checkpoint", cp.error());
      st.acked[p] = st.saved[p] = cp->value_or(0);
      st.assigned[p] = 1;
      st.dirty[p] = 1;
    }
    st.log_next = 0; // a new partition may lie behind it
    pump();
  }

  caf::response_promise on_revoke(const std::vector<partition_id>& parts) {
    auto& st = self_->state;
    auto rp = self_->make_response_promise();
    for (auto p : parts)
      if (p < st.parts) {
        st.assigned[p] = 0;
        st.dirty[p] = 0;
      }
    st.revoking = parts;
    st.revoke_rp = rp;
    if (!st.in_flight)
      finish_revoke();
    return rp;
  }

  /// Checkpoints the revoked partitions, then tells the coordinator.
  void finish_revoke() {
    auto& st = self_->state;
    if (!st.revoke_rp.pending())
      return;
    write_batch wb;
    for (auto p : st.revoking)
      if (p < st.parts)
        wb.checkpoints.push_back({st.opts.consumer, p, st.acked[p]});
    wb.models = std::move(st.unsaved_parked);
    st.unsaved_parked.clear();
    auto rp = st.revoke_rp;
    st.revoke_rp = caf::response_promise{};
    auto parts = st.revoking;
    st.revoking.clear();
    self_
      ->request(st.ctx->writer, caf::infinite, commit_atom::value,
                std::move(wb))
      .then(
        [this, rp, parts](caf::ok_atom) mutable {
          auto& s = self_->state;
          for (auto p : parts)
            if (p < s.parts)
              s.saved[p] = s.acked[p];
          rp.deliver(caf::ok_atom::value);
        },
        [rp](caf::error& err) mutable { rp.deliver(err); });
  }

  void on_wake(const std::vector<partition_id>& parts) {
    auto& st = self_->state;
    if (!st.ready)
      return; // init() reads the partition ends after joining
    for (auto p : parts) {
      if (p < st.parts && interested(p))
        st.dirty[p] = 1;
      if (p < st.parts && st.blocked[p]) {
        st.blocked[p] = 0;
        st.relocate = true;
      }
    }
    pump();
  }

  // -- reading and delivering -------------------------------------------------

  /// Publishes the positions and the parked count to the probe.
  void publish() {
    auto& st = self_->state;
    if (!st.probe || !st.ready)
      return;
    for (partition_id p = 0; p < st.parts && p < st.probe->partitions; ++p)
      st.probe->reached[p].store(interested(p) ? st.acked[p]
                                               : cursor_probe::not_read,
                                 std::memory_order_relaxed);
    st.probe->parked.store(st.parked_keys.size(), std::memory_order_relaxed);
    st.probe->started.store(true, std::memory_order_release);
  }

  void pump() {
    auto& st = self_->state;
    publish();
    if (st.stopping) {
      if (!st.in_flight)
        finish_stop();
      return;
    }
    if (!st.ready || st.in_flight || st.backing_off)
      return;
    st.batch.clear();
    st.events.clear();
    st.scanned.clear();
    st.log_batch = false;
    auto& store = *st.ctx->store;
    auto limit = std::max<std::size_t>(1, st.opts.batch_size);
    uint32_t behind = 0;
    for (partition_id p = 0; p < st.parts && behind <= log_mode_partitions; ++p)
      behind += st.dirty[p] && interested(p) ? 1 : 0;
    if (behind > log_mode_partitions) {
      if (!pump_log(limit))
        return;
    } else {
      st.log_next = 0; // acked moves on without it
    }
    for (uint32_t k = 0;
         k < st.parts && st.batch.size() < limit && !st.log_batch; ++k) {
      auto p = (st.rr + k) % st.parts;
      if (!st.dirty[p] || !interested(p))
        continue;
      auto end = st.acked[p];
      auto visible = st.ctx->visible_end(p);
      bool full = false;
      auto err
        = store.scan_partition(p, st.acked[p] + 1, [&](const event_view& v) {
            if (v.pos > visible) { // not replicated yet: woken when it is
              st.blocked[p] = 1;
              return false;
            }
            end = v.pos;
            full = take(v, limit);
            return !full;
          });
      if (err)
        return stop("cannot read partition " + std::to_string(p), err);
      st.scanned.emplace_back(p, end);
      if (!full)
        st.dirty[p] = 0;
    }
    st.rr = (st.rr + 1) % std::max<uint32_t>(1, st.parts);
    if (st.batch.empty()) {
      for (auto [p, end] : st.scanned)
        st.acked[p] = std::max(st.acked[p], end);
      if (st.log_batch)
        st.log_next = st.log_resume;
      if (std::exchange(st.relocate, false))
        st.log_next = 0;
      publish();
      maybe_checkpoint(true);
      return;
    }
    st.in_flight = true;
    event_batch msg{st.id, std::move(st.events)};
    st.events.clear();
    self_->request(st.subscriber, caf::infinite, std::move(msg))
      .then([this](batch_done& done) { on_done(done); },
            [this](caf::error& err) { stop("subscriber failed", err); });
  }

  /// Adds `v` to the batch if the filter takes it, or parks it behind an
  /// earlier parked event of its stream. @returns whether the batch is full.
  bool take(const event_view& v, std::size_t limit) {
    auto& st = self_->state;
    if (!st.opts.filter.matches(v))
      return false;
    if (st.parked_streams.count(stream_key_of(v.category, v.id))) {
      park(v.category, v.id, v.rev, v.pos,
           "an earlier event of its stream is parked");
      return false;
    }
    st.batch.push_back(
      {v.partition, v.pos, v.rev, std::string{v.category}, std::string{v.id}});
    st.events.push_back(v.to_event());
    return st.batch.size() >= limit;
  }

  /// Log mode: when many partitions are behind (a catch-up), one
  /// sequential read of the log in commit order serves them all, instead of
  /// one index walk per partition. Fills the batch like the partition path
  /// and sets `log_batch`; false if the worker stopped.
  bool pump_log(std::size_t limit) {
    auto& st = self_->state;
    auto& store = *st.ctx->store;
    if (std::exchange(st.relocate, false))
      st.log_next = 0;
    if (st.log_next == 0) {
      uint64_t lo = std::numeric_limits<uint64_t>::max();
      for (partition_id p = 0; p < st.parts; ++p) {
        if (!st.dirty[p] || !interested(p))
          continue;
        auto seq = store.locate(p, st.acked[p] + 1);
        if (!seq) {
          stop("cannot locate partition " + std::to_string(p), seq.error());
          return false;
        }
        if (*seq)
          lo = std::min(lo, **seq);
      }
      st.log_next = lo == std::numeric_limits<uint64_t>::max() ? 0 : lo;
    }
    st.log_batch = true;
    st.log_resume = st.log_next;
    if (st.log_next == 0) { // nothing behind after all
      for (partition_id p = 0; p < st.parts; ++p)
        if (interested(p))
          st.dirty[p] = 0;
      return true;
    }
    st.scan_end.assign(st.parts, 0);
    std::vector<partition_id> touched;
    bool full = false, gap = false;
    auto err
      = store.scan_log(st.log_next, [&](uint64_t seq, const event_view& v) {
          auto p = v.partition;
          if (p >= st.parts || !interested(p) || v.pos <= st.acked[p]) {
            st.log_resume = seq + 1;
            return true;
          }
          if (st.blocked[p] || v.pos > st.ctx->visible_end(p)) {
            st.blocked[p] = 1; // not replicated yet: skip the partition
            st.log_resume = seq + 1;
            return true;
          }
          auto& end = st.scan_end[p];
          if (end == 0) {
            end = st.acked[p];
            touched.push_back(p);
          }
          if (v.pos != end + 1) { // cannot happen; recompute next time
            gap = true;
            return false;
          }
          end = v.pos;
          st.log_resume = seq + 1;
          full = take(v, limit);
          return !full;
        });
    if (err) {
      stop("cannot read the log", err);
      return false;
    }
    for (auto p : touched)
      st.scanned.emplace_back(p, st.scan_end[p]);
    if (gap) {
      st.log_next = 0;
      st.log_resume = 0;
    } else if (!full) {
      // Read to the end of the log as of this read: nothing is behind.
      for (partition_id p = 0; p < st.parts; ++p)
        if (interested(p))
          st.dirty[p] = 0;
    }
    return true;
  }

  void on_done(const batch_done& done) {
    auto& st = self_->state;
    st.in_flight = false;
    auto n = std::min<std::size_t>(done.handled, st.batch.size());
    st.ctx->metrics.delivered_events += n;
    st.unsaved += n;
    if (n == st.batch.size()) {
      for (auto [p, end] : st.scanned)
        st.acked[p] = std::max(st.acked[p], end);
      if (st.log_batch)
        st.log_next = st.log_resume;
      if (std::exchange(st.relocate, false))
        st.log_next = 0;
      st.attempts = 0;
      st.failures = 0;
      st.last_failed.clear();
    } else {
      for (std::size_t i = 0; i < n; ++i)
        st.acked[st.batch[i].partition] = st.batch[i].pos;
      const auto& bad = st.batch[n];
      auto key = parked_key(bad.category, bad.id, bad.rev);
      if (key != st.last_failed) {
        st.last_failed = key;
        st.attempts = 0;
        st.failures = 0;
      }
      ++st.failures;
      if (!done.transient)
        ++st.attempts;
      else
        on_transient_failure(bad, done.error);
      if (!done.transient
          && st.attempts >= std::max<uint32_t>(1, st.opts.max_attempts)) {
        park(bad.category, bad.id, bad.rev, bad.pos,
             done.error.empty() ? "handler failed" : done.error);
        st.parked_streams.insert(stream_key_of(bad.category, bad.id));
        st.acked[bad.partition] = bad.pos;
        st.attempts = 0;
        st.failures = 0;
        st.last_failed.clear();
      } else {
        back_off();
      }
      for (auto [p, end] : st.scanned)
        if (interested(p))
          st.dirty[p] = 1;
    }
    finish_revoke();
    maybe_checkpoint(false);
    pump();
  }

  /// Counts and logs a transient failure: the first of a run, then every
  /// 20th, so that an outage of minutes does not flood the log.
  void on_transient_failure(const worker_state::origin& bad,
                            const std::string& error) {
    auto& st = self_->state;
    ++st.ctx->metrics.retried_deliveries;
    if (st.failures == 1 || st.failures % 20 == 0)
      log(log_level::warning,
          "subscription " + std::to_string(st.id) + ": " + bad.category + "/"
            + bad.id + " revision " + std::to_string(bad.rev)
            + " failed transiently (" + std::to_string(st.failures)
            + " in a row), retrying: " + error);
  }

  /// Delays the next delivery: `retry_backoff` * 2^(failures - 1), capped,
  /// minus up to 25 % jitter.
  void back_off() {
    auto& st = self_->state;
    using std::chrono::milliseconds;
    auto base = std::max<int64_t>(1, st.opts.retry_backoff.count());
    auto cap = std::max<int64_t>(base, st.opts.max_retry_backoff.count());
    auto shift = std::min<uint32_t>(st.failures - 1, 30);
    auto delay = std::min<int64_t>(cap, base << shift);
    delay -= static_cast<int64_t>(st.jitter() % (delay / 4 + 1));
    st.backing_off = true;
    self_->delayed_send(self_, milliseconds{delay}, retry_atom::value);
  }

  void on_retry() {
    self_->state.backing_off = false;
    pump();
  }

  // -- graceful stop
  // ------------------------------------------------------------

  /// Finishes the batch in flight, saves the positions reached, then quits
  /// (so a group member that leaves hands over at its true position).
  void on_stop() {
    auto& st = self_->state;
    st.stopping = true;
    if (!st.in_flight)
      finish_stop();
  }

  void finish_stop() {
    auto& st = self_->state;
    if (st.stop_done)
      return;
    st.stop_done = true;
    write_batch wb;
    if (!st.opts.consumer.empty() && !st.opts.checkpoint_by_handler)
      for (partition_id p = 0; p < st.parts; ++p)
        if (st.acked[p] != st.saved[p])
          wb.checkpoints.push_back({st.opts.consumer, p, st.acked[p]});
    wb.models = std::move(st.unsaved_parked);
    st.unsaved_parked.clear();
    if (wb.checkpoints.empty() && wb.models.empty()) {
      self_->quit();
      return;
    }
    self_
      ->request(st.ctx->writer, caf::infinite, commit_atom::value,
                std::move(wb))
      .then([this](caf::ok_atom) { self_->quit(); },
            [this](caf::error& err) {
              log(log_level::warning,
                  "final checkpoint failed: " + render(err));
              self_->quit();
            });
  }

  // -- parking ----------------------------------------------------------------

  void park(std::string_view category, std::string_view id, revision rev,
            position pos, const std::string& reason) {
    auto& st = self_->state;
    auto key = parked_key(category, id, rev);
    if (!st.parked_keys.insert(key).second)
      return;
    ++st.ctx->metrics.parked_events;
    log(log_level::warning, "subscription " + std::to_string(st.id) + " parked "
                              + std::string{category} + "/" + std::string{id}
                              + " revision " + std::to_string(rev) + ": "
                              + reason);
    if (!st.opts.consumer.empty())
      st.unsaved_parked.push_back({parked_model(st.opts.consumer), key,
                                   std::to_string(pos) + " " + reason, false});
  }

  /// Replays the parked events in stream order; unparks those handled.
  /// Replies with the number of events replayed successfully.
  caf::response_promise replay() {
    auto& st = self_->state;
    auto rp = self_->make_response_promise();
    if (st.in_flight || !st.ready) {
      rp.deliver(make_error(errc::unavailable, "subscription is busy"));
      return rp;
    }
    std::vector<recorded_event> events;
    for (const auto& key : st.parked_keys) {
      auto a = key.find('\0');
      auto b = key.find('\0', a + 1);
      stream_id s{key.substr(0, a), key.substr(a + 1, b - a - 1)};
      auto rev = std::stoull(key.substr(b + 1));
      auto ev = st.ctx->store->read_stream(s, rev, 1);
      if (ev && !ev->empty())
        events.push_back(std::move(ev->front()));
    }
    if (events.empty()) {
      rp.deliver(uint64_t{0});
      return rp;
    }
    st.in_flight = true;
    auto replayed = events;
    self_
      ->request(st.subscriber, caf::infinite,
                event_batch{st.id, std::move(events)})
      .then(
        [this, rp, replayed](batch_done& done) mutable {
          auto& s = self_->state;
          s.in_flight = false;
          auto n = std::min<std::size_t>(done.handled, replayed.size());
          write_batch wb;
          for (std::size_t i = 0; i < n; ++i) {
            const auto& ev = replayed[i];
            auto key = parked_key(ev.stream.category, ev.stream.id, ev.rev);
            s.parked_keys.erase(key);
            if (!s.opts.consumer.empty())
              wb.models.push_back(
                {parked_model(s.opts.consumer), key, {}, true});
          }
          // A stream is unparked once none of its events is parked.
          s.parked_streams.clear();
          for (const auto& key : s.parked_keys)
            s.parked_streams.insert(key.substr(0, key.rfind('\0')));
          if (wb.models.empty()) {
            rp.deliver(static_cast<uint64_t>(n));
            pump();
            return;
          }
          // Reply once the unparking is durable.
          self_
            ->request(s.ctx->writer, caf::infinite, commit_atom::value,
                      std::move(wb))
            .then(
              [this, rp, n](caf::ok_atom) mutable {
                rp.deliver(static_cast<uint64_t>(n));
                pump();
              },
              [this, rp](caf::error& err) mutable {
                log(log_level::error, "cannot unpark events: " + render(err));
                rp.deliver(err);
                pump();
              });
        },
        [this, rp](caf::error& err) mutable {
          rp.deliver(err);
          stop("subscriber failed during replay", err);
        });
    return rp;
  }

  // -- checkpoints ------------------------------------------------------------

  void maybe_checkpoint(bool idle) {
    auto& st = self_->state;
    if (st.opts.consumer.empty() || st.checkpointing)
      return;
    bool own = !st.opts.checkpoint_by_handler;
    bool due = st.unsaved >= std::max<std::size_t>(1, st.opts.checkpoint_every)
               || (idle && st.unsaved > 0) || !st.unsaved_parked.empty();
    if (!due && !(idle && own && st.acked != st.saved))
      return;
    write_batch wb;
    if (own)
      for (partition_id p = 0; p < st.parts; ++p)
        if (st.acked[p] != st.saved[p])
          wb.checkpoints.push_back({st.opts.consumer, p, st.acked[p]});
    wb.models = std::move(st.unsaved_parked);
    st.unsaved_parked.clear();
    if (wb.checkpoints.empty() && wb.models.empty()) {
      st.unsaved = 0;
      return;
    }
    // Delivered and acknowledged, position not stored: redelivered later.
    ANNALS_CRASH_POINT_IF(!wb.checkpoints.empty(),
                          "annals/pubsub/before_checkpoint");
    st.checkpointing = true;
    auto positions = st.acked;
    st.unsaved = 0;
    self_
      ->request(st.ctx->writer, caf::infinite, commit_atom::value,
                std::move(wb))
      .then(
        [this, positions](caf::ok_atom) {
          auto& s = self_->state;
          s.checkpointing = false;
          if (!s.opts.checkpoint_by_handler)
            s.saved = positions;
          if (!s.in_flight)
            maybe_checkpoint(true);
        },
        [this](caf::error& err) {
          self_->state.checkpointing = false;
          log(log_level::warning,
              "checkpoint of " + self_->state.opts.consumer
                + " failed (events will be re-delivered): " + render(err));
        });
  }

  void stop(const std::string& what, const caf::error& err) {
    auto& st = self_->state;
    if (err != caf::exit_reason::user_shutdown)
      log(log_level::warning, "subscription " + std::to_string(st.id) + ": "
                                + what + ": " + render(err));
    self_->quit();
  }

private:
  actor_type* self_;
};

} // namespace

namespace {

caf::behavior worker_behavior(caf::stateful_actor<worker_state>* self,
                              context_ptr ctx, uint64_t id,
                              subscription_options opts, caf::actor subscriber,
                              caf::actor coordinator,
                              std::shared_ptr<cursor_probe> probe) {
  auto& st = self->state;
  st.probe = std::move(probe);
  st.coordinator = std::move(coordinator);
  st.ctx = std::move(ctx);
  st.id = id;
  st.opts = std::move(opts);
  st.subscriber = std::move(subscriber);
  st.jitter.seed(static_cast<std::minstd_rand::result_type>(id + 1));
  auto w = std::make_shared<worker>(self);
  self->monitor(st.subscriber);
  self->set_down_handler([w, self](caf::down_msg& dm) {
    if (dm.source == self->state.subscriber.address())
      w->stop("subscriber is gone", dm.reason);
  });
  self->set_exit_handler([w, self](caf::exit_msg& em) {
    // Save the positions reached before going.
    w->maybe_checkpoint(true);
    self->quit(em.reason);
  });
  w->start();
  return {
    [w](wake_atom, const std::vector<partition_id>& parts) {
      w->on_wake(parts);
    },
    [w](replay_atom) { return w->replay(); },
    [w](stop_atom) { w->on_stop(); },
    [w](retry_atom) { w->on_retry(); },
    [w](assign_atom, const std::vector<partition_id>& parts) {
      w->on_assign(parts);
    },
    [w](revoke_atom, const std::vector<partition_id>& parts) {
      return w->on_revoke(parts);
    },
  };
}

// -- consumer group coordinator -----------------------------------------------

struct coordinator_state {
  coordinator_state() = default; // not an aggregate (see worker_state)
  uint32_t parts = 0;
  std::vector<caf::actor> members; // join order
  std::map<caf::actor_addr, std::set<partition_id>> held;
  bool rebalancing = false;
  bool again = false;
};

class coordinator {
public:
  using actor_type = caf::stateful_actor<coordinator_state>;

  explicit coordinator(actor_type* self) : self_(self) {
  }

  void join(const caf::actor& w) {
    auto& st = self_->state;
    self_->monitor(w);
    st.members.push_back(w);
    st.held[w.address()];
    rebalance();
  }

  void leave(const caf::actor_addr& who) {
    auto& st = self_->state;
    st.members.erase(
      std::remove_if(st.members.begin(), st.members.end(),
                     [&](const caf::actor& m) { return m.address() == who; }),
      st.members.end());
    st.held.erase(who); // its partitions are free: it reads no more
    rebalance();
  }

  /// Revoke first, wait for every holder, then assign.
  void rebalance() {
    auto& st = self_->state;
    if (st.rebalancing) {
      st.again = true;
      return;
    }
    if (st.members.empty())
      return;
    st.rebalancing = true;
    std::map<caf::actor_addr, std::set<partition_id>> target;
    for (partition_id p = 0; p < st.parts; ++p)
      target[st.members[p % st.members.size()].address()].insert(p);
    auto pending = std::make_shared<std::size_t>(0);
    auto done = [this, target, pending] {
      if (--*pending > 0)
        return;
      finish(target);
    };
    ++*pending; // held until all revokes are sent
    for (const auto& m : st.members) {
      auto& have = st.held[m.address()];
      std::vector<partition_id> revoke;
      for (auto p : have)
        if (!target.at(m.address()).count(p))
          revoke.push_back(p);
      if (revoke.empty())
        continue;
      ++*pending;
      for (auto p : revoke)
        have.erase(p);
      self_->request(m, caf::infinite, revoke_atom::value, std::move(revoke))
        .then([done](caf::ok_atom) mutable { done(); },
              [done](caf::error&) mutable { done(); });
    }
    done();
  }

  void finish(const std::map<caf::actor_addr, std::set<partition_id>>& target) {
    auto& st = self_->state;
    for (const auto& m : st.members) {
      auto it = target.find(m.address());
      if (it == target.end())
        continue;
      auto& have = st.held[m.address()];
      std::vector<partition_id> assign;
      for (auto p : it->second)
        if (have.insert(p).second)
          assign.push_back(p);
      if (!assign.empty())
        self_->send(m, assign_atom::value, std::move(assign));
    }
    st.rebalancing = false;
    if (st.again) {
      st.again = false;
      rebalance();
    }
  }

private:
  actor_type* self_;
};

caf::behavior coordinator_behavior(caf::stateful_actor<coordinator_state>* self,
                                   uint32_t parts) {
  self->state.parts = parts;
  auto c = std::make_shared<coordinator>(self);
  self->set_down_handler([c](caf::down_msg& dm) { c->leave(dm.source); });
  return {
    [c](group_join_atom, const caf::actor& w) {
      c->join(w);
      return caf::ok_atom::value;
    },
  };
}

/// An adapter owned by its subscription quits once the cursor is gone.
void watch_worker(caf::event_based_actor* self) {
  self->set_down_handler([self](caf::down_msg&) { self->quit(); });
}

caf::behavior callback_behavior(caf::event_based_actor* self, event_handler f) {
  watch_worker(self);
  return {
    [self](watch_atom, const caf::actor& w) { self->monitor(w); },
    [f](event_batch& batch) {
      for (std::size_t i = 0; i < batch.events.size(); ++i) {
        caf::error err;
        try {
          err = f(batch.events[i]);
        } catch (const std::exception& ex) {
          err = make_error(errc::handler_failed, ex.what());
        }
        if (err)
          return batch_done{static_cast<uint32_t>(i), render(err),
                            is_transient(err)};
      }
      return batch_done{static_cast<uint32_t>(batch.events.size()), {}};
    },
  };
}

caf::behavior projection_behavior(caf::event_based_actor* self, context_ptr ctx,
                                  std::string name, projection_handler f) {
  watch_worker(self);
  return {
    [self](watch_atom, const caf::actor& w) { self->monitor(w); },
    [self, ctx, name, f](event_batch& batch) {
      auto rp = self->make_response_promise();
      write_batch wb;
      model_writer mw{*ctx->store, name, wb};
      std::map<partition_id, position> reached;
      uint32_t handled = 0;
      std::string error;
      bool transient = false;
      for (const auto& ev : batch.events) {
        auto mark = wb.models.size();
        caf::error err;
        try {
          err = f(ev, mw);
        } catch (const std::exception& ex) {
          err = make_error(errc::handler_failed, ex.what());
        }
        if (err) {
          wb.models.resize(mark); // the failed event's rows never commit
          error = render(err);
          transient = is_transient(err);
          break;
        }
        reached[ev.partition] = ev.pos;
        ++handled;
      }
      if (handled == 0) {
        rp.deliver(batch_done{0, error, transient});
        return rp;
      }
      for (const auto& [p, pos] : reached)
        wb.checkpoints.push_back({name, p, pos});
      self
        ->request(ctx->writer, caf::infinite, commit_atom::value, std::move(wb))
        .then(
          [rp, handled, error, transient](caf::ok_atom) mutable {
            rp.deliver(batch_done{handled, error, transient});
          },
          [rp](caf::error& err) mutable {
            // The model's commit failed: the storage, not the event.
            rp.deliver(batch_done{0, render(err), true});
          });
      return rp;
    },
  };
}

} // namespace

caf::actor spawn_subscription_worker(caf::actor_system& sys, context_ptr ctx,
                                     uint64_t id, subscription_options opts,
                                     caf::actor subscriber,
                                     caf::actor coordinator,
                                     std::shared_ptr<cursor_probe> probe) {
  return sys.spawn(worker_behavior, std::move(ctx), id, std::move(opts),
                   std::move(subscriber), std::move(coordinator),
                   std::move(probe));
}

caf::actor spawn_group_coordinator(caf::actor_system& sys,
                                   uint32_t partitions) {
  return sys.spawn(coordinator_behavior, partitions);
}

caf::actor spawn_callback_subscriber(caf::actor_system& sys, event_handler f) {
  return sys.spawn(callback_behavior, std::move(f));
}

caf::actor spawn_projection_subscriber(caf::actor_system& sys, context_ptr ctx,
                                       std::string name, projection_handler f) {
  return sys.spawn(projection_behavior, std::move(ctx), std::move(name),
                   std::move(f));
}

} // namespace detail
} // namespace annals
