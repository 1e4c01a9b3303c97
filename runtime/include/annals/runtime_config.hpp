// annals -- event-sourced aggregates on the C++ Actor Framework.
// Part of the runtime module: configuration, in one place.
#pragma once

#include "annals/persistence/journal_options.hpp"

#include <caf/actor_system_config.hpp>
#include <caf/timestamp.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

namespace annals {

/// Settings of one aggregate type's host (defaults from `runtime_config`).
struct host_options {
  /// Write a snapshot after this many events since the last one; 0 = never.
  uint64_t snapshot_every = 1000;
  /// Stop an aggregate idle for this long; 0 = never.
  caf::timespan passivate_after = std::chrono::minutes{2};
  /// At most this many live aggregates of this type; the least recently
  /// used is passivated beyond it.
  std::size_t max_live = 100'000;
};

/// Settings of a runtime. Every field has a config key under "annals."
/// (INI file or command line, through `annals::config`); defaults are in
/// the README.
struct runtime_config {
  /// annals.data-dir: the journal's directory.
  std::string data_dir = "annals-data";
  /// annals.partitions, annals.sync ("fsync" or "unsafe-no-sync"),
  /// annals.max-map-mb, annals.dedupe-window.
  journal_options journal;
  /// annals.snapshot-every, annals.passivate-after, annals.max-live.
  host_options hosts;
  /// annals.max-recoveries: aggregates recovering at once.
  std::size_t max_recoveries = 16;
  /// annals.max-batch: appends in one group commit.
  std::size_t max_batch = 4096;
  /// annals.command-timeout: default timeout of blocking `ask` calls.
  caf::timespan command_timeout = std::chrono::seconds{10};
};

/// An `actor_system_config` that knows the "annals.*" options (command line
/// `--annals.data-dir=...`, or an `[annals]` section of the INI file),
/// registers annals' message types and error renderers, and loads nothing
/// else. Derive from it to add your own ID blocks and options.
///
/// It sets `scheduler.policy` to `stealing` (CAF's own default, pinned:
/// measured against `sharing` in the README, "Runtime defaults");
/// `--scheduler.policy=sharing` or a `[scheduler]` INI section overrides
/// it, like any CAF option.
class config : public caf::actor_system_config {
public:
  config();

  /// Applies the parsed options to `runtime_config` defaults.
  runtime_config runtime() const;

private:
  std::string data_dir_;
  std::string sync_;
  uint32_t partitions_ = 0;
  size_t max_map_mb_ = 0;
  size_t dedupe_window_ = 0;
  size_t snapshot_every_ = 0;
  caf::timespan passivate_after_{0};
  size_t max_live_ = 0;
  size_t max_recoveries_ = 0;
  size_t max_batch_ = 0;
  caf::timespan command_timeout_{0};
};

} // namespace annals
