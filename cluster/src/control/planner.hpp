// annals -- event-sourced aggregates on the C++ Actor Framework.
// Part of the cluster module (internal): the controller's planning logic,
// pure functions from (map, live members, configuration) to the next map.
//
// What: `plan` computes the next partition map: membership, replica sets
// by the ring (first RF distinct members clockwise, RF clamped to the
// serving members), leader failover, learners for wiped and joining
// replicas, and shrinking of replica sets after leaves. `promote_learner`
// is the one map change that swaps a caught-up learner in.
// Guarantees: deterministic (the same inputs give the same map, whatever
// the order of `live`); epochs never decrease; a partition's epoch grows by
// one whenever its leader or voters change (so at most one leader per
// (partition, epoch)); `version` grows by one per changed map and stays
// put when nothing changes; partitions the ring does not move are not
// touched by a membership change. Every returned map passes `validate`.
// Errors: `invalid_argument`, `no_members`, `not_a_learner`, and the
// current map's `validate` error.
// Threads: pure functions, no I/O.
//
// # Rules (per partition p; "live voter" = a voter whose node is live with
// # the incarnation the map lists for it)
// - Failover: if the leader is not a live voter (lease gone, or its node
//   came back with another incarnation), and a majority of p's voters are
//   live voters, the first live voter in `ring_order(p)` leads at epoch+1.
//   With fewer live voters the leader and epoch stay: no new leader could
//   fence a majority, so an appointment would only churn epochs; p is
//   unavailable until enough voters return.
// - Wiped disk: a voter whose node registers another incarnation stays
//   listed with the old one (still counted as the replica set's member,
//   never as live) and its node gets a learner with the new incarnation.
// - Join: a new registered node becomes a member; partitions whose ring
//   target now includes it get it as a learner. Nothing else moves.
// - Move (join or leave): add learner -> the leader reports it caught up ->
//   `promote_learner`: one map change that adds it as a voter (RF+1 voters
//   for a while), epoch+1 -> the leader reports the new voters settled ->
//   `plan` removes the voter the ring no longer wants (shrink). One voter
//   changes at a time, and only while `settled` (Raft's single-server
//   changes): every majority of the new voters then meets every majority
//   of the old, so the next leader's fence finds each committed entry.
// - Shrink: when p has more voters than RF (a move, or RF fell after a
//   leave), and p is settled, one voter the ring does not want is removed
//   per plan, epoch+1, leadership to the first live voter left if it led;
//   not while that would leave fewer live voters than a majority, nor in
//   the plan that failed p over.
// - Leave: a member with intent `leave` is off the ring; it is dropped from
//   the map once no partition names it.
// - A dead member stays a member (its replicas wait for it); re-replicating
//   the replicas of a long-dead node is not done yet.
#pragma once

#include "control/partition_map.hpp"

#include <caf/expected.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace annals::cluster::control {

/// A node whose lease is alive, with its current registration.
struct live_member {
  std::string name;
  std::string incarnation;
  std::string address;
  member_intent intent = member_intent::serve;
};

struct plan_config {
  /// Number of partitions (fixed for the cluster's life).
  uint32_t partitions = 0;
  /// Configured replication factor (clamped to the serving members).
  uint32_t rf = 3;
  /// Ring points per member (`ring`).
  uint32_t vnodes = 128;
};

struct plan_result {
  /// The next map (equal to the current one if nothing changed).
  partition_map map;
  /// True if `map` differs from the current one (or there was none): the
  /// controller writes it.
  bool changed = false;
  /// Partitions whose leader was replaced because it was not a live voter.
  uint32_t failovers = 0;
};

/// The map after `current` (none: the first map) given the `live` members.
/// @returns `invalid_argument` (0 partitions, RF 0, 0 vnodes, a live
///          member with an empty or duplicate name or an empty incarnation,
///          a partition count other than the map's), `no_members` (no map
///          and no live serving member), or `current`'s `validate` error.
caf::expected<plan_result> plan(const std::optional<partition_map>& current,
                                std::vector<live_member> live,
                                const plan_config& cfg);

/// The map with learner (`node`, `incarnation`) of partition `p` promoted
/// to voter (the leader reported it caught up): version+1, epoch+1, not
/// settled. If `node` is a voter (a wiped disk), its incarnation is
/// replaced in place; otherwise it is added as one more voter (at most
/// RF+1; `plan` removes the one the ring no longer wants once settled).
/// @returns `invalid_argument` (no partition `p`), `not_a_learner` (no such
///          learner, p not settled, its node not in p's target, or p has
///          RF+1 voters already), or `map`'s `validate` error.
caf::expected<partition_map> promote_learner(const partition_map& map,
                                             partition_id p,
                                             const std::string& node,
                                             const std::string& incarnation,
                                             uint32_t vnodes);

/// A leader's report: learner (`node`, `incarnation`) of `partition` holds
/// its log up to the high watermark.
struct learner_report {
  partition_id partition = 0;
  std::string node;
  std::string incarnation;
  friend bool operator==(const learner_report&, const learner_report&)
    = default;
};

/// `promote_learner` for each report in order, as ONE map change (version+1
/// once). Reports that name no learner (promoted already, stale) are
/// skipped; `promoted` counts the others.
/// @returns `invalid_argument` (vnodes 0) or `map`'s `validate` error.
struct promotion {
  partition_map map;
  uint32_t promoted = 0;
};
caf::expected<promotion>
promote_learners(const partition_map& map,
                 const std::vector<learner_report>& reports, uint32_t vnodes);

/// A node's report: it cannot lead `partition` at `epoch`, to which the map
/// appointed it, because its replica already holds that epoch's fence (the
/// node restarted after fencing it, and an epoch is never led twice).
struct stale_appointment {
  partition_id partition = 0;
  std::string node;
  uint64_t epoch = 0;
  friend bool operator==(const stale_appointment&, const stale_appointment&)
    = default;
};

/// The map with every reported partition that `node` still leads at the
/// reported epoch appointed again: epoch+1, same leader and voters, as ONE
/// map change (version+1 once); `promoted` counts them. Other reports are
/// skipped (appointed again already, or led by another node now).
/// @returns `map`'s `validate` error.
caf::expected<promotion>
reappoint(const partition_map& map,
          const std::vector<stale_appointment>& reports);

/// A leader's report: its replica of `partition`, leading `epoch`, saw the
/// high watermark reach the epoch's start: the epoch's voters settled.
struct settled_epoch {
  partition_id partition = 0;
  std::string node;
  uint64_t epoch = 0;
  friend bool operator==(const settled_epoch&, const settled_epoch&) = default;
};

/// The map with every reported partition that `node` still leads at the
/// reported epoch marked `settled`, as ONE map change (version+1 once);
/// `promoted` counts them. Other reports are skipped.
/// @returns `map`'s `validate` error.
caf::expected<promotion> settle(const partition_map& map,
                                const std::vector<settled_epoch>& reports);

/// Votes needed out of `voters`: `voters / 2 + 1`.
constexpr size_t majority(size_t voters) noexcept {
  return voters / 2 + 1;
}

} // namespace annals::cluster::control
