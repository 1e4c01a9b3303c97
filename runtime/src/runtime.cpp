// annals -- event-sourced aggregates on the C++ Actor Framework.
#include "annals/runtime.hpp"

#include "annals/detail/cursor_probe.hpp"
#include "annals/errc.hpp"
#include "annals/log.hpp"

#include "journal_writer.hpp"
#include "shutdown_sequence.hpp"
#include "subscription_worker.hpp"

#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include <algorithm>
#include <future>
#include <stdexcept>

namespace annals {

runtime::runtime(caf::actor_system& sys, detail::context_ptr ctx)
  : sys_(sys), ctx_(std::move(ctx)),
    deadlines_(std::make_shared<reply_deadlines>()) {
}

caf::expected<std::unique_ptr<runtime>> runtime::start(caf::actor_system& sys,
                                                       runtime_config cfg) {
  auto j = open_lmdb_journal(cfg.data_dir, cfg.journal);
  if (!j)
    return std::move(j.error());
  return start(sys, std::move(cfg), std::shared_ptr<journal>{std::move(*j)});
}

std::unique_ptr<runtime> runtime::start(caf::actor_system& sys,
                                        runtime_config cfg,
                                        std::shared_ptr<journal> store) {
  auto ctx = std::make_shared<detail::runtime_context>();
  ctx->store = std::move(store);
  ctx->cfg = std::move(cfg);
  auto parts = ctx->store->partition_count();
  ctx->partitions = parts;
  ctx->epochs = std::make_unique<std::atomic<uint64_t>[]>(parts);
  ctx->visible = std::make_unique<std::atomic<uint64_t>[]>(parts);
  ctx->leading = std::make_unique<std::atomic<uint8_t>[]>(parts);
  for (uint32_t i = 0; i < parts; ++i) {
    ctx->epochs[i].store(0);
    ctx->visible[i].store(detail::runtime_context::all_visible);
    ctx->leading[i].store(1);
  }
  ctx->broker = sys.spawn(detail::broker, parts);
  ctx->writer = sys.spawn(detail::journal_writer, ctx);
  ctx->gate = sys.spawn(detail::recovery_gate, ctx->cfg.max_recoveries);
  return std::unique_ptr<runtime>{new runtime(sys, std::move(ctx))};
}

runtime::~runtime() {
  shutdown();
}

void runtime::shutdown() {
  std::shared_future<void> stopped;
  {
    std::lock_guard guard{mtx_};
    if (!stopped_) {
      stopped_ = true;
      stopped_future_ = begin_stop().share();
    }
    stopped = stopped_future_;
  }
  if (detail::on_caf_thread()) {
    // Waiting here could mean waiting for this very thread's actor.
    if (stopped.wait_for(std::chrono::seconds{0}) != std::future_status::ready)
      log(log_level::warning,
          "annals::runtime::shutdown on an actor's thread: not waiting for "
          "the runtime's actors; the journal closes once they are gone and "
          "the runtime is destroyed");
    return;
  }
  // A concurrent second caller waits here until the journal is closed.
  std::lock_guard sequence{shutdown_mtx_};
  while (stopped.wait_for(std::chrono::seconds{10})
         != std::future_status::ready)
    log(log_level::warning,
        "annals::runtime::shutdown: still waiting for the runtime's actors "
        "to stop (a subscription handler that does not return?)");
  deadlines_->stop();
  std::lock_guard guard{mtx_};
  ctx_->store.reset();
}

std::future<void> runtime::begin_stop() {
  // Under `mtx_`. The hosts stay listed: `host<A>()` then hands out a
  // stopped host.
  std::vector<caf::actor> first;
  for (auto& [name, h] : hosts_)
    first.push_back(h);
  first.insert(first.end(), subscription_actors_.begin(),
               subscription_actors_.end());
  subscription_actors_.clear();
  coordinators_.clear();
  probes_.clear();
  // Replies held for replication no longer wait for a replicator that may
  // be gone: the aggregates below wait for their writer replies.
  caf::anon_send(ctx_->writer, stop_atom::value);
  // Hosts (each waits for its aggregates), cursors, adapters and adopted
  // actors first: what they send the writer on their way out (appends in
  // flight, checkpoints) is in its mailbox before its own exit.
  auto done = std::make_shared<std::promise<void>>();
  auto out = done->get_future();
  detail::spawn_shutdown_sequence(
    sys_, {std::move(first), {ctx_->broker, ctx_->gate, ctx_->writer}},
    std::move(done));
  return out;
}

journal& runtime::store() {
  std::lock_guard guard{mtx_};
  if (!ctx_->store)
    throw std::logic_error{"annals::runtime::store() after shutdown()"};
  return *ctx_->store;
}

std::shared_ptr<journal> runtime::open_store() const {
  std::lock_guard guard{mtx_};
  return ctx_->store;
}

subscription runtime::subscribe(caf::actor subscriber,
                                subscription_options opts) {
  std::lock_guard guard{mtx_};
  if (stopped_)
    return subscription{&sys_, 0, caf::actor{}};
  auto id = next_subscription_++;
  caf::actor coordinator;
  if (opts.group && !opts.consumer.empty()) {
    auto& c = coordinators_[opts.consumer];
    if (!c) {
      c = detail::spawn_group_coordinator(sys_, ctx_->partitions);
      subscription_actors_.push_back(c);
    }
    coordinator = c;
  }
  auto probe = std::make_shared<detail::cursor_probe>(id, opts.consumer,
                                                      ctx_->partitions);
  probes_.erase(std::remove_if(probes_.begin(), probes_.end(),
                               [](const auto& w) { return w.expired(); }),
                probes_.end());
  probes_.push_back(probe);
  auto w = detail::spawn_subscription_worker(sys_, ctx_, id, std::move(opts),
                                             subscriber, coordinator, probe);
  subscription_actors_.push_back(w);
  return subscription{&sys_, id, w};
}

subscription runtime::subscribe(subscription_options opts, event_handler f) {
  auto sub = detail::spawn_callback_subscriber(sys_, std::move(f));
  // Listed before its cursor exists, so that a shutdown in between stops
  // it too (it reads the journal through the context).
  adopt(sub);
  auto s = subscribe(sub, std::move(opts));
  caf::anon_send(sub, watch_atom::value, s.worker());
  return s;
}

subscription runtime::project(std::string name, subscription_filter filter,
                              projection_handler f) {
  auto sub
    = detail::spawn_projection_subscriber(sys_, ctx_, name, std::move(f));
  subscription_options opts;
  opts.filter = std::move(filter);
  opts.consumer = std::move(name);
  opts.start = start_from::checkpoint;
  opts.checkpoint_by_handler = true;
  // Listed before its cursor exists, so that a shutdown in between stops
  // it too (it reads the journal through the context).
  adopt(sub);
  auto s = subscribe(sub, std::move(opts));
  caf::anon_send(sub, watch_atom::value, s.worker());
  return s;
}

caf::actor runtime::host_actor(const std::string& category) const {
  std::lock_guard guard{mtx_};
  auto it = hosts_.find(category);
  return it == hosts_.end() ? caf::actor{} : it->second;
}

std::vector<caf::actor> runtime::host_actors() const {
  std::lock_guard guard{mtx_};
  std::vector<caf::actor> out;
  for (auto& [name, h] : hosts_)
    out.push_back(h);
  return out;
}

void runtime::set_epoch(partition_id p, uint64_t epoch) {
  if (p < ctx_->partitions)
    ctx_->epochs[p].store(epoch, std::memory_order_release);
}

void runtime::enable_replication(const caf::actor& replicator) {
  for (uint32_t i = 0; i < ctx_->partitions; ++i) {
    ctx_->visible[i].store(0, std::memory_order_release);
    ctx_->leading[i].store(0, std::memory_order_release);
  }
  caf::anon_send(ctx_->writer, replicator_atom::value, replicator);
}

namespace {

/// Raises `v` to `end`; whether it rose.
bool raise_visible(std::atomic<position>& v, position end) {
  auto now = v.load(std::memory_order_acquire);
  while (now < end
         && !v.compare_exchange_weak(now, end, std::memory_order_acq_rel)) {
  }
  return now < end;
}

} // namespace

void runtime::set_visible(partition_id p, position end) {
  set_visible(std::vector<committed_end>{{p, end, 0}});
}

void runtime::set_visible(const std::vector<committed_end>& ends) {
  std::vector<partition_id> raised;
  for (const auto& x : ends)
    if (x.partition < ctx_->partitions
        && raise_visible(ctx_->visible[x.partition], x.end))
      raised.push_back(x.partition);
  if (!raised.empty())
    caf::anon_send(ctx_->broker, wake_atom::value, std::move(raised));
}

void runtime::set_leading(partition_id p, bool leads) {
  if (p >= ctx_->partitions)
    return;
  auto was
    = ctx_->leading[p].exchange(leads ? 1 : 0, std::memory_order_acq_rel);
  if (leads && was == 0)
    caf::anon_send(ctx_->broker, wake_atom::value,
                   std::vector<partition_id>{p});
}

bool runtime::leads(partition_id p) const noexcept {
  return p < ctx_->partitions && ctx_->leads(p);
}

position runtime::visible_end(partition_id p) const noexcept {
  return p < ctx_->partitions ? ctx_->visible_end(p) : 0;
}

caf::actor runtime::spawn_callback_adapter(event_handler f) {
  auto a = detail::spawn_callback_subscriber(sys_, std::move(f));
  adopt(a);
  return a;
}

caf::actor runtime::spawn_projection_adapter(std::string name,
                                             projection_handler f) {
  auto a = detail::spawn_projection_subscriber(sys_, ctx_, std::move(name),
                                               std::move(f));
  adopt(a);
  return a;
}

void runtime::adopt(caf::actor a) {
  std::unique_lock guard{mtx_};
  if (stopped_) {
    guard.unlock();
    caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
    return;
  }
  subscription_actors_.push_back(std::move(a));
}

caf::expected<std::vector<parked_event>>
runtime::parked(const std::string& consumer) const {
  auto store = open_store();
  if (!store)
    return make_error(errc::unavailable, "the runtime is stopped");
  return detail::list_parked(*store, consumer);
}

caf::expected<std::vector<subscription_progress>>
runtime::subscriptions() const {
  std::vector<std::shared_ptr<detail::cursor_probe>> probes;
  {
    std::lock_guard guard{mtx_};
    for (const auto& w : probes_)
      if (auto p = w.lock())
        probes.push_back(std::move(p));
  }
  auto store = open_store();
  if (!store)
    return make_error(errc::unavailable, "the runtime is stopped");
  auto ends = store->partition_ends();
  if (!ends)
    return std::move(ends.error());
  std::map<std::string, uint64_t> stored_parked;
  std::vector<subscription_progress> out;
  for (const auto& p : probes) {
    subscription_progress sp;
    sp.id = p->id;
    sp.consumer = p->consumer;
    sp.started = p->started.load(std::memory_order_acquire);
    sp.lag_events = sp.started ? p->lag(*ends) : 0;
    if (p->consumer.empty()) {
      sp.parked_events = p->parked.load(std::memory_order_relaxed);
    } else {
      auto it = stored_parked.find(p->consumer);
      if (it == stored_parked.end()) {
        uint64_t n = 0;
        auto err = store->scan_model(detail::parked_model(p->consumer),
                                     [&n](std::string_view, std::string_view) {
                                       ++n;
                                       return true;
                                     });
        if (err)
          return err;
        it = stored_parked.emplace(p->consumer, n).first;
      }
      sp.parked_events = it->second;
    }
    out.push_back(std::move(sp));
  }
  return out;
}

void subscription::cancel() {
  // Graceful: the cursor finishes its batch and saves its positions; an
  // owned adapter quits when the cursor is gone.
  if (worker_)
    caf::anon_send(worker_, stop_atom::value);
}

caf::expected<uint64_t>
subscription::replay_parked(caf::timespan timeout) const {
  caf::expected<uint64_t> out{caf::error{}};
  caf::scoped_actor self{*sys_};
  self->request(worker_, timeout, replay_atom::value)
    .receive([&](uint64_t n) { out = n; },
             [&](caf::error& err) { out = std::move(err); });
  return out;
}

runtime_stats runtime::stats() const {
  const auto& m = ctx_->metrics;
  runtime_stats s;
  for (auto& b : m.commit_latency)
    s.commit_latency.push_back(b);
  s.commit_latency_sum_us = m.commit_latency_sum_us;
  for (auto& b : m.batch_sizes)
    s.batch_sizes.push_back(b);
  s.commits = m.commits;
  s.appends = m.appends;
  s.recoveries = m.recoveries;
  s.replayed_events = m.replayed_events;
  s.snapshots_written = m.snapshots_written;
  s.snapshot_fallbacks = m.snapshot_fallbacks;
  s.passivations = m.passivations;
  s.storage_failures = m.storage_failures;
  s.live_aggregates = m.live_aggregates;
  s.max_active_recoveries = m.max_active_recoveries;
  s.delivered_events = m.delivered_events;
  s.parked_events = m.parked_events;
  s.retried_deliveries = m.retried_deliveries;
  return s;
}

} // namespace annals
