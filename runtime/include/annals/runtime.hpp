// annals -- event-sourced aggregates on the C++ Actor Framework.
// Part of the runtime module: hosting aggregates as actors.
#pragma once

#include "annals/aggregate.hpp"
#include "annals/aggregate_handle.hpp"
#include "annals/detail/aggregate_host.hpp"
#include "annals/detail/runtime_context.hpp"
#include "annals/persistence/journal.hpp"
#include "annals/runtime_config.hpp"

#include <caf/actor_system.hpp>

#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace annals {

/// The aggregate runtime of one process: a journal, its writer (one thread,
/// group commit), a recovery gate, and one host per aggregate type.
///
/// ~~~
/// annals::config cfg;                 // parses --annals.* options
/// caf::actor_system sys{cfg};
/// auto rt = annals::runtime::start(sys, cfg.runtime());
/// auto accounts = rt->host<bank::account>();
/// auto ack = accounts.ask("alice", bank::deposit{500});
/// ~~~
///
/// # Lifecycle
/// `start` opens the journal (LMDB in `data_dir`) and spawns the writer and
/// gate. `shutdown` (also run by the destructor) stops every actor of the
/// runtime; the journal closes once the last of them is gone. Destroy the
/// runtime before the actor system.
///
/// # Concurrency
/// `host` and `stats` are thread-safe.
class runtime {
public:
  /// Opens the LMDB journal in `cfg.data_dir` and starts the runtime.
  /// @returns the journal's error (`locked`, `partition_count_mismatch`,
  ///          ...) if it cannot be opened.
  static caf::expected<std::unique_ptr<runtime>> start(caf::actor_system& sys,
                                                       runtime_config cfg);

  /// Starts the runtime on a journal the caller opened (tests inject
  /// faulty or in-memory journals this way).
  static std::unique_ptr<runtime> start(caf::actor_system& sys,
                                        runtime_config cfg,
                                        std::shared_ptr<journal> store);

  ~runtime();
  runtime(const runtime&) = delete;
  runtime& operator=(const runtime&) = delete;

  /// The handle for aggregate type `A`, spawning its host on first use.
  /// `opts` apply on first use only; later calls return the same host.
  template <class A>
  aggregate_handle<A> host(host_options opts) {
    static_assert(check_aggregate<A>());
    std::lock_guard guard{mtx_};
    auto& h = hosts_[std::string{A::category}];
    if (!h)
      h = sys_.spawn(detail::aggregate_host<A>, ctx_, opts);
    return aggregate_handle<A>{sys_, h, ctx_->cfg.command_timeout};
  }

  template <class A>
  aggregate_handle<A> host() {
    return host<A>(ctx_->cfg.hosts);
  }

  /// Stops all actors of the runtime (idempotent).
  void shutdown();

  runtime_stats stats() const;

  journal& store() noexcept {
    return *ctx_->store;
  }

  caf::actor_system& system() noexcept {
    return sys_;
  }

  const runtime_config& config() const noexcept {
    return ctx_->cfg;
  }

private:
  runtime(caf::actor_system& sys, detail::context_ptr ctx);

  caf::actor_system& sys_;
  detail::context_ptr ctx_;
  std::mutex mtx_;
  std::map<std::string, caf::actor> hosts_;
  bool stopped_ = false;
};

} // namespace annals
