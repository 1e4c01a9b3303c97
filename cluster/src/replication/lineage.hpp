// annals -- event-sourced aggregates on the C++ Actor Framework.
// Part of the replication core: comparing partition logs by their lineage.
#pragma once

#include "annals/persistence/journal.hpp"

#include <cstdint>
#include <vector>

namespace annals::replication {

/// A partition's lineage: each epoch on its events with the position of its
/// first event, epochs increasing (as `journal::partition_lineage` returns
/// it). Positions before the first entry carry epoch 0.
using lineage = std::vector<epoch_start>;

/// The epoch of the event at `pos` according to `lin` (0 for position 0 or
/// a position before the first entry). Does not check that `pos` exists.
uint64_t epoch_at(const lineage& lin, position pos) noexcept;

/// The last epoch of `lin` (0 if empty).
uint64_t last_epoch(const lineage& lin) noexcept;

/// The longest common prefix of two logs, given their lineages and ends: the
/// largest `p <= min(end_a, end_b)` at which both logs carry the same epoch.
/// Because one epoch has one leader, which never rewrites its own entries,
/// equal epochs at `p` mean equal entries at every position up to `p` (Raft's
/// log matching). This is where a follower truncates (KIP-101 and KIP-279,
/// computed in one step from whole lineages).
position common_prefix(const lineage& a, position end_a, const lineage& b,
                       position end_b) noexcept;

/// The lineage of a log cut after `end`: entries that begin after it dropped.
lineage lineage_until(const lineage& lin, position end);

/// Whether log A (lineage and end) is at least as up to date as log B: a
/// higher last epoch, or the same last epoch and at least as long (Raft's
/// election restriction, over durable logs).
bool at_least_as_up_to_date(const lineage& a, position end_a, const lineage& b,
                            position end_b) noexcept;

} // namespace annals::replication
