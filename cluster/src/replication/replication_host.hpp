// annals -- event-sourced aggregates on the C++ Actor Framework.
// Part of the replication core: every partition replica of one node over
// its journal, without actors or sockets.
#pragma once

#include "annals/persistence/journal.hpp"

#include "replication/journal_log.hpp"
#include "replication/replica.hpp"
#include "replication/write_stage.hpp"

#include <caf/error.hpp>

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace annals::replication {

/// A frame for the replica `to` of partition `partition` on another node.
struct outgoing_frame {
  replica_id to = 0;
  partition_id partition = 0;
  std::string bytes;
};

/// What changed for the driver: a partition began serving, lost its
/// leadership (held replies end `outcome_unknown`), carried its leadership
/// into the next epoch (this leader was appointed again at epoch + 1, e.g.
/// when the voters changed: held replies now wait for the new epoch's high
/// watermark, which will cover them), advanced its high watermark as leader
/// (replies up to it may be released), or raised the high watermark it
/// knows, in any phase (readers may see up to it).
struct partition_change {
  enum class kind : uint8_t { serving, lost, carried, committed, visible };
  kind what = kind::committed;
  partition_id partition = 0;
  /// `lost`: the epoch whose replies end; `carried`: the new epoch.
  uint64_t epoch = 0;
  /// `serving`: the epoch's first position; `committed` and `visible`: the
  /// high watermark.
  position pos = 0;
  /// `carried`: the epoch whose held replies now wait for `epoch`.
  uint64_t previous_epoch = 0;
};

/// What a call into a `replication_host` asks its driver to do.
struct host_output {
  std::vector<outgoing_frame> frames;
  std::vector<partition_change> changes;
};

/// The replicas one node holds, each over one partition of the node's
/// journal (`journal_log`), with the byte frames between nodes.
///
/// # Driving it
/// `assign` the partitions this node replicates; `appoint` when the
/// controller makes it leader; `receive` frames from peers; `committed`
/// after the node's own writer committed appends of a partition it leads;
/// `tick` from a timer (~50-100 ms). Every call fills a `host_output`:
/// send its frames (best effort), act on its changes.
///
/// # Group commit
/// With `group_commit`, replica writes -- follower appends, fences, a new
/// leader's epoch marker -- are staged (`write_stage`) instead of committed
/// one by one: call `flush` once the frames at hand are received (`pending`
/// says whether one is due). It commits every staged write in ONE journal
/// transaction and fsync. Until then everything a replica with staged
/// writes says (its frames and changes) is held: no fence reply, no
/// acknowledgement and no `serving` leaves before the write it rests on is
/// durable (outputs wait for the fsync). A partition whose part fails is
/// held again from its durable log, as after a restart, and what it held
/// is dropped.
///
/// # Errors
/// A frame that does not decode, or carries an entry that is not an event,
/// is dropped and counted (`dropped_frames`) before its replica sees it;
/// journal errors make the replica drop the message or step down (see
/// `replica`). `assign` and `appoint` return errors as values.
///
/// # Concurrency
/// Not thread-safe: confined to one thread (the node's replication actor).
class replication_host {
public:
  explicit replication_host(journal& j, bool group_commit = false);

  /// Holds a replica of `p` as `self` (a follower until appointed). A
  /// second call for the same partition keeps the replica, unless `self`
  /// changed (the node moved between voters and learners): then the replica
  /// is held again under the new id, from its durable log (as `unassign`).
  caf::error assign(partition_id p, replica_id self, host_output& out);

  /// `assign` of a partition not held yet.
  caf::error assign(partition_id p, replica_id self) {
    host_output none;
    return assign(p, self, none);
  }

  /// Drops the replica of `p` (its journal data stays; what it staged and
  /// never acknowledged is dropped). If it led, `out` gets `lost`.
  void unassign(partition_id p, host_output& out);

  /// The controller appointed this node's replica of `p` leader of `epoch`
  /// over the voters `members`, also shipping to `learners`.
  caf::error appoint(partition_id p, uint64_t epoch, const membership& members,
                     const membership& learners, host_output& out);

  /// Makes the fences of `appointments` (partition, epoch) durable in ONE
  /// journal commit, before their `appoint` calls, which then write no
  /// fence of their own (a map that appoints this node to many partitions
  /// costs one fsync for all their self-fences, not one each). Partitions
  /// not held, or with staged entries, are left to `appoint`.
  /// @returns the journal's error (then every `appoint` fences itself).
  caf::error raise_fences(
    const std::vector<std::pair<partition_id, uint64_t>>& appointments);

  /// See `replica::set_learners` (no-op for a partition not held).
  void set_learners(partition_id p, const membership& learners,
                    host_output& out);

  /// See `replica::reconfigure`.
  caf::error reconfigure(partition_id p, uint64_t epoch,
                         const membership& members, host_output& out);

  /// A frame from a peer for partition `p`.
  void receive(partition_id p, std::string_view bytes, host_output& out);

  /// The node's writer committed appends to `p` (stamped with the epoch it
  /// leads): ship them and recompute the high watermark. `end` is the
  /// partition's end after them and `epoch` the highest epoch stamped; the
  /// log is re-read from the journal only if they do not simply extend it
  /// (`journal_log::advance`).
  void committed(partition_id p, position end, uint64_t epoch,
                 host_output& out);

  /// Retransmits on every replica.
  void tick(host_output& out);

  /// Group commit: commits what the replicas staged and lets them
  /// acknowledge it. @returns the journal's error if the commit failed
  /// (the replicas of the failed partitions were reset).
  caf::error flush(host_output& out);

  /// Whether a `flush` is due.
  bool pending() const noexcept {
    return !dirty_.empty() || !holding_.empty() || (stage_ && !stage_->empty());
  }

  /// Journal commits made by `flush` (group commit) so far.
  uint64_t group_commits() const noexcept {
    return stage_ ? stage_->commits() : 0;
  }

  /// The replica of `p`, if assigned (for status and tests).
  const replica* find(partition_id p) const;

  uint64_t dropped_frames() const noexcept {
    return dropped_frames_;
  }

private:
  struct slot {
    replica_id self = 0;
    std::unique_ptr<journal_log> log;
    std::unique_ptr<replica> r;
    phase last_phase = phase::follower;
    uint64_t last_epoch = 0;
    position last_hw = 0;
    position last_visible = 0;
    /// The epoch whose replies the driver may hold (0: none): set when it
    /// serves or carries, cleared with `lost`.
    uint64_t held_epoch = 0;
    /// What the replica said while its writes were staged: released once
    /// they are durable.
    host_output withheld;
  };

  /// Moves what `s` withheld to `out` once nothing of it is staged.
  void release(partition_id p, slot& s, host_output& out);

  void after(partition_id p, slot& s, effects& fx, host_output& out);

  /// Holds `p` again from its durable log (a failed staged write); `lost`
  /// if it led.
  void reset(partition_id p, host_output& out);

  journal& journal_;
  std::unique_ptr<write_stage> stage_;
  /// Partitions whose replicas wait for the stage's flush to sync.
  std::set<partition_id> dirty_;
  /// Partitions whose slots withhold outputs.
  std::set<partition_id> holding_;
  std::map<partition_id, slot> slots_;
  uint64_t dropped_frames_ = 0;
};

} // namespace annals::replication
