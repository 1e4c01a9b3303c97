// annals -- event-sourced aggregates on the C++ Actor Framework.
#include "annals/runtime.hpp"

#include "journal_writer.hpp"

#include <caf/send.hpp>

namespace annals {

runtime::runtime(caf::actor_system& sys, detail::context_ptr ctx)
  : sys_(sys), ctx_(std::move(ctx)) {
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
  ctx->writer = sys.spawn(detail::journal_writer, ctx);
  ctx->gate = sys.spawn(detail::recovery_gate, ctx->cfg.max_recoveries);
  return std::unique_ptr<runtime>{new runtime(sys, std::move(ctx))};
}

runtime::~runtime() {
  shutdown();
}

void runtime::shutdown() {
  std::lock_guard guard{mtx_};
  if (stopped_)
    return;
  stopped_ = true;
  for (auto& [name, h] : hosts_)
    caf::anon_send_exit(h, caf::exit_reason::user_shutdown);
  hosts_.clear();
  caf::anon_send_exit(ctx_->gate, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(ctx_->writer, caf::exit_reason::user_shutdown);
}

runtime_stats runtime::stats() const {
  const auto& m = ctx_->metrics;
  runtime_stats s;
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
  return s;
}

} // namespace annals
