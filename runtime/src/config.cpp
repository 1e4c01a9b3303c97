// annals -- event-sourced aggregates on the C++ Actor Framework.
#include "annals/render.hpp"
#include "annals/runtime_config.hpp"
#include "annals/runtime_types.hpp"

#include <caf/atom.hpp>
#include <caf/config_option_adder.hpp>

namespace annals {

config::config() {
  opt_group{custom_options_, "annals"}
    .add(data_dir_, "data-dir", "directory of the journal (LMDB)")
    .add(partitions_, "partitions",
         "partition count, fixed when the journal is created")
    .add(sync_, "sync", "'fsync' (default) or 'unsafe-no-sync'")
    .add(max_map_mb_, "max-map-mb", "largest journal map in MiB")
    .add(dedupe_window_, "dedupe-window",
         "events per stream within which a command id is recognised")
    .add(snapshot_every_, "snapshot-every", "events between snapshots")
    .add(passivate_after_, "passivate-after",
         "stop aggregates idle for this long")
    .add(max_live_, "max-live", "live aggregates per type (LRU beyond)")
    .add(max_recoveries_, "max-recoveries", "aggregates recovering at once")
    .add(max_batch_, "max-batch", "appends per group commit")
    .add(command_timeout_, "command-timeout", "default timeout of ask()");
  add_message_types<caf::id_block::annals>();
  register_error_renderers(*this);
  // Work stealing, chosen by measurement (pubsub_bench 1b, runtime_bench
  // (a)/(b); README, "Runtime defaults"): against work sharing it delivered
  // commits to subscribers with half the p99 and kept 2x the commands/s of
  // one hot aggregate. Pinned so a CAF upgrade cannot change it unseen; the
  // command line and the INI file still override it.
  set("scheduler.policy", caf::atom("stealing"));
  // An idle work-stealing worker spins briefly, then (CAF's default) polls
  // 500 times with a 50 us sleep between polls before it waits on its
  // condition variable, which an enqueue notifies. Those sleeps cost a
  // system call and a context switch each: with three nodes and a client on
  // two cores they took ~7 % of the CPU, and skipping straight to the wait
  // raised a 3-node cluster from 9.8k to 13.0k cmd/s (cluster_bench (4),
  // RF 1; in-process runtime_bench (a)/(b) unchanged within noise).
  set("work-stealing.moderate-poll-attempts", 0);
}

runtime_config config::runtime() const {
  runtime_config rc;
  if (!data_dir_.empty())
    rc.data_dir = data_dir_;
  if (partitions_ != 0)
    rc.journal.partitions = partitions_;
  if (sync_ == "unsafe-no-sync")
    rc.journal.sync = durability::unsafe_no_sync;
  if (max_map_mb_ != 0)
    rc.journal.max_map_bytes = uint64_t{max_map_mb_} << 20;
  if (dedupe_window_ != 0)
    rc.journal.dedupe_window = static_cast<uint32_t>(dedupe_window_);
  if (snapshot_every_ != 0)
    rc.hosts.snapshot_every = snapshot_every_;
  if (passivate_after_.count() > 0)
    rc.hosts.passivate_after = passivate_after_;
  if (max_live_ != 0)
    rc.hosts.max_live = max_live_;
  if (max_recoveries_ != 0)
    rc.max_recoveries = max_recoveries_;
  if (max_batch_ != 0)
    rc.max_batch = max_batch_;
  if (command_timeout_.count() > 0)
    rc.command_timeout = command_timeout_;
  return rc;
}

} // namespace annals
