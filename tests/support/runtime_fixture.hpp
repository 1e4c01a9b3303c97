// annals -- test support: an actor system plus a runtime on an injectable
// journal, a journal that fails on demand, and awaiting conditions.
#pragma once

#include "annals/persistence/forwarding_journal.hpp"
#include "annals/persistence/journal.hpp"
#include "annals/runtime.hpp"
#include "annals/runtime_config.hpp"

#include "await.hpp"

#include <caf/actor_system.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <thread>

namespace annals::testing {

/// Polls `pred` until it holds or `limit` passes; returns its last value.
/// Awaits a condition; never a fixed sleep.
/// Wraps a journal; fails the next `fail_commits` commits with `io_error`
/// without writing anything (a storage fault injected under the runtime).
class faulty_journal : public forwarding_journal {
public:
  using forwarding_journal::forwarding_journal;
  std::atomic<int> fail_commits{0};
  std::atomic<int> failed{0};
  std::atomic<int> commits{0};

  caf::expected<batch_result> commit(const write_batch& b) override {
    ++commits;
    if (fail_commits > 0) {
      --fail_commits;
      ++failed;
      return make_error(journal_errc::io_error, "injected fsync failure");
    }
    return forwarding_journal::commit(b);
  }
};

/// A CAF config for tests: two scheduler threads, annals types registered.
class test_config : public annals::config {
public:
  test_config() {
    set("scheduler.max-threads", 2);
  }
};

/// An actor system and a runtime over `store`; `restart()` replaces the
/// runtime (the aggregates recover from the same journal).
struct runtime_fixture {
  explicit runtime_fixture(std::shared_ptr<journal> j = nullptr,
                           runtime_config rc = default_config())
    : store(j ? std::move(j) : std::shared_ptr<journal>{make_memory_journal()}),
      cfg(std::move(rc)), sys(conf) {
    rt = runtime::start(sys, cfg, store);
  }
  ~runtime_fixture() {
    rt.reset();
  }
  static runtime_config default_config() {
    runtime_config rc;
    rc.command_timeout = std::chrono::seconds{10};
    return rc;
  }
  void restart() {
    rt.reset();
    rt = runtime::start(sys, cfg, store);
  }
  std::shared_ptr<journal> store;
  runtime_config cfg;
  test_config conf;
  caf::actor_system sys;
  std::unique_ptr<runtime> rt;
};

} // namespace annals::testing
