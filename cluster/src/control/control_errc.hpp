// annals -- event-sourced aggregates on the C++ Actor Framework.
// Part of the cluster module (internal): errors of the control plane
// (partition map codec, planner, controller).
#pragma once

#include <caf/atom.hpp>
#include <caf/error.hpp>

#include <cstdint>
#include <string>

namespace annals::cluster::control {

/// Errors of the control plane (category atom "control"). The context is a
/// message whose only element is a description. etcd failures are passed
/// through unchanged (category "etcd", see etcd/etcd_errc.hpp).
enum class control_errc : uint8_t {
  /// A stored value (the map, a member registration) is not what this build
  /// writes: not JSON, a missing, extra or ill-typed field, or a broken
  /// invariant (e.g. a leader that is not a voter). Nothing was changed.
  malformed_value = 1,
  /// The value names a format this build does not know (written by a newer
  /// build). Nothing was changed.
  unknown_format,
  /// A caller's argument is unusable (no partitions, RF 0, duplicate or
  /// empty member names, a partition count that differs from the map's).
  invalid_argument,
  /// There is no live member to build the first map from.
  no_members,
  /// `promote_learner` for a node and incarnation that is not a learner of
  /// the partition (stale report: wiped again, or no longer wanted).
  not_a_learner,
  /// This node does not hold the controller key (absent, or another
  /// node's, or attached to another lease). Nothing was written.
  not_controller,
  /// The map's compare-and-swap failed: the map changed since it was read,
  /// or this node was deposed in between. Nothing was written; re-read.
  conflict,
};

/// The name of `x`, e.g. "conflict".
const char* to_string(control_errc x) noexcept;

/// The category atom of `control_errc`.
constexpr caf::atom_value control_category = caf::atom("control");

/// Makes an error whose context is `description`.
caf::error make_error(control_errc x, std::string description);

/// True if `err` is of category "control" with code `x`.
bool is(const caf::error& err, control_errc x) noexcept;

/// "control.conflict: ..." for our errors, etcd's rendering for etcd
/// errors, CAF's for others.
std::string describe(const caf::error& err);

} // namespace annals::cluster::control
