// annals -- event-sourced aggregates on the C++ Actor Framework.
// Part of the replication core: one replica of one partition as a pure
// state machine.
#pragma once

#include "replication/lineage.hpp"
#include "replication/messages.hpp"
#include "replication/replica_log.hpp"

#include <caf/atom.hpp>
#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace annals::replication {

/// Errors of `replica`'s calls.
enum class replication_errc : uint8_t {
  /// `propose` on a replica that is not serving as leader.
  not_leader = 1,
  /// `appoint` with an epoch at or below the replica's fence: a replica
  /// leads an epoch at most once.
  stale_epoch,
  /// `appoint` of a replica that is not a voter of `members` (absent, or a
  /// learner: its incarnation differs).
  not_a_voter,
  /// `reconfigure` with other replicas than the epoch's membership.
  invalid_membership,
};

constexpr caf::atom_value replication_category = caf::atom("replica");

caf::error make_error(replication_errc x);

bool is(const caf::error& err, replication_errc x) noexcept;

/// The phase of a replica of one partition.
enum class phase : uint8_t {
  /// Follows the leader of its epoch (if it knows one); never serves.
  follower,
  /// Appointed leader: fencing a majority of the replica set.
  fencing,
  /// Fenced a majority: pulling the most up-to-date log among them.
  recovering,
  /// Serving: accepts proposals, replicates, advances the high watermark.
  leader,
};

const char* to_string(phase x) noexcept;

/// Deliberate protocol bugs, for tests that prove the simulation catches
/// them. They exist only in builds with ANNALS_PLANTED_BUGS defined (the
/// test library `annals_replication_planted`); the normal library contains
/// none of them.
enum class planted_bug : uint8_t {
  none,
  /// The leader's high watermark follows its own durable end.
  ack_on_leader_fsync,
  /// A follower keeps its conflicting suffix instead of truncating it.
  no_truncation,
  /// An appointed leader serves at once, with its own log.
  skip_fence,
  /// The leader counts fenced replicas' old-epoch logs as matching and
  /// drops the rule that the high watermark must reach its epoch's start.
  count_old_epoch,
  /// A follower acknowledges appended entries before they are synced.
  follower_ack_before_fsync,
  /// The leader counts a wiped replica (new incarnation) as a voter.
  count_learners,
  /// Only half of `count_old_epoch`: the high watermark may advance before
  /// it reaches the epoch's marker (Raft's figure 8).
  commit_before_epoch_start,
  /// The leader ships batches of `max_batch` entries even when that splits
  /// an append.
  split_appends,
  /// Controller bugs, planted in the simulation's controller (the replica
  /// ignores them): voters change again before the last change settled...
  unsettled_voter_change,
  /// ... or a caught-up learner replaces a voter in one step.
  swap_voter,
};

struct replica_config {
  replica_id self = 0;
  /// Entries in one `replicate` or `pull_reply`: at most this many, or one
  /// append if that is longer (a batch never splits an append).
  std::size_t max_batch = 64;
  /// Payload bytes in one batch: a batch stops at the first append's end at
  /// or past this bound (one append is shipped whole, however large).
  std::size_t max_batch_bytes = 1 << 20;
  /// Entries shipped to one follower and not yet acknowledged: past this
  /// window the leader ships it nothing new (a tick still sends it a
  /// heartbeat), so a slow or catching-up follower holds bounded memory in
  /// flight: about `max_in_flight / max_batch` batches.
  std::size_t max_in_flight = 512;
#ifdef ANNALS_PLANTED_BUGS
  planted_bug bug = planted_bug::none;
#endif
};

/// What a call into a `replica` asks its driver to do.
struct effects {
  /// Messages to send (best effort: loss, delay, duplication and reordering
  /// are tolerated).
  std::vector<envelope> messages;
  /// The log holds volatile writes: call `log.sync()`, then `on_synced`.
  bool sync_needed = false;
  /// The replica stopped leading: replies still held for proposals end
  /// `outcome_unknown` (they may or may not commit later).
  bool leadership_lost = false;
};

/// One replica of one partition: the replication protocol as a pure state
/// machine (no I/O of its own, no clock, no threads). Inputs are calls
/// (appointment by the controller, messages, sync completions, timer ticks,
/// proposals); outputs are `effects` plus operations on its `replica_log`.
///
/// # Protocol
/// - The controller appoints (epoch e, leader, members). The leader fences
///   itself and a majority of voters at e (`fence_request`; durable; a
///   fenced replica refuses every older epoch), takes the most up-to-date
///   durable log among them (highest last epoch, then longest), pulls what
///   it lacks, appends a marker entry of epoch e (where e starts in the
///   lineage) and only then serves.
/// - The leader appends proposals, and ships durable entries as
///   `replicate{e, prev, prev_epoch, entries, hw}`. A follower refuses
///   epochs below its fence, answers a mismatched `prev` with its lineage so
///   the leader jumps to the common prefix, truncates a conflicting suffix,
///   and acknowledges only what it has synced.
/// - High watermark = the largest position held durably by a majority of
///   the voters, counting only acknowledgements of the current epoch and
///   only once it reaches the epoch's marker (Raft's "count replicas only
///   for your own term"). Replies are releasable up to it.
///
/// # Guarantees
/// An entry below a leader's high watermark is in every later leader's log
/// at the same position, provided at most a minority of voters lose their
/// disks (a wiped replica comes back with a new incarnation and is not
/// counted) and the controller appoints each epoch once.
///
/// # Errors
/// Log errors make the replica drop the message (or step down when
/// leading); `propose` and `appoint` return `replication_errc`.
///
/// # Concurrency
/// Not thread-safe: confined to the thread (actor) that drives it.
class replica {
public:
  /// Starts (or restarts after a crash) as a follower of `log.fence()`'s
  /// epoch with no known leader. `log` must outlive the replica.
  replica(replica_config cfg, replica_log& log);

  // -- inputs -----------------------------------------------------------------

  /// The controller appointed this replica leader of `epoch` over `members`
  /// (the voters), shipping the log also to `learners` (replicas on other
  /// nodes being caught up; never fenced, never counted).
  /// @returns `stale_epoch` if `epoch < fence`, or `epoch == fence` and
  ///          this replica followed or led `epoch` already (or restarted
  ///          fenced at it: a fence raised for this appointment by its host
  ///          in this process is no bar), `not_a_voter`, or a log error;
  ///          then nothing changed.
  caf::error appoint(uint64_t epoch, const membership& members,
                     const membership& learners, effects& out);

  /// `appoint` without learners.
  caf::error appoint(uint64_t epoch, const membership& members, effects& out) {
    return appoint(epoch, members, {}, out);
  }

  /// The controller changed the learners of the epoch this replica leads
  /// (or is appointed to lead). A learner keeps its progress if its
  /// incarnation is listed again, under whatever id. Ignored by a replica
  /// that does not lead.
  void set_learners(const membership& learners, effects& out);

  /// Appends `payloads` as one append, the next entries (leader only). Its
  /// reply may be released once `high_watermark() >= ` the returned
  /// position (its last entry's) while this replica still leads the same
  /// epoch. A driver whose appends reach the log by another path (the
  /// runtime's journal writer, stamping this epoch once the replica serves)
  /// calls `on_synced` when they are durable instead.
  /// @returns the last entry's position, `not_leader`, or a log error
  ///          (`invalid_argument` for no payloads).
  caf::expected<position> propose(std::vector<std::string> payloads,
                                  effects& out);

  void receive(const message& msg, effects& out);

  /// The controller replaced incarnations in the membership of the current
  /// epoch (a learner that caught up takes its old incarnation's place: one
  /// map change). Same replica ids only, this replica's own incarnation
  /// unchanged. The replica counts the learner from now on.
  /// @returns `not_leader` (not serving `epoch`: pass the membership with
  ///          the next appointment instead), `invalid_membership`.
  caf::error reconfigure(uint64_t epoch, const membership& members,
                         effects& out);

  /// The driver synced the log (`log.sync()` returned).
  void on_synced(effects& out);

  /// A timer tick: retransmits what may have been lost.
  void tick(effects& out);

  // -- observers --------------------------------------------------------------

  phase current_phase() const noexcept {
    return phase_;
  }

  /// The epoch this replica follows or leads.
  uint64_t epoch() const noexcept {
    return epoch_;
  }

  std::optional<replica_id> leader() const noexcept {
    return leader_;
  }

  /// The high watermark this replica knows: computed as leader, learned
  /// (and capped by what it holds of the leader's log) as follower.
  position high_watermark() const noexcept {
    return hw_;
  }

  /// Leader: learners (replicas of `set_learners`, and voters answering with
  /// an incarnation that the membership does not list) that durably hold the
  /// log up to the high watermark, with the incarnation they answer with:
  /// the controller may now make them voters (next epoch), or let them
  /// replace their old incarnation (`reconfigure`).
  std::vector<member> caught_up_learners() const;

  /// Leader: the voters of this epoch hold, on a majority, everything
  /// committed before it (the high watermark reached the epoch's marker).
  /// Until then the controller must not change the voters again: a new
  /// set could miss entries committed only on the old one.
  bool settled() const noexcept {
    return phase_ == phase::leader && hw_ >= epoch_start_;
  }

  /// Leader: the position of this epoch's marker entry (0 before serving).
  position epoch_start() const noexcept {
    return epoch_start_;
  }

private:
  struct follower_progress {
    replica_id id = 0;
    std::string incarnation; // the voter's, from the membership
    std::string seen;        // the incarnation its replies carry
    position matched = 0;    // durably holds our log up to here (this epoch)
    position common = 0;     // its log equals ours up to here (from lineage)
    position next = 1;       // next position to ship
    position base = 0;       // shipped past here: unacknowledged (window)
    bool learner = false;    // listed as a learner: never counted
    bool heard = false;      // it answered a replicate since the last tick

    /// Ships from `from` on, nothing of it in flight yet.
    void rewind(position from) noexcept {
      next = from;
      base = from - 1;
    }

    /// Counted in the high watermark: a voter, not a learner.
    bool counted() const noexcept {
      return !learner && seen == incarnation;
    }
  };

  bool planted([[maybe_unused]] planted_bug bug) const noexcept {
#ifdef ANNALS_PLANTED_BUGS
    return cfg_.bug == bug;
#else
    return false;
#endif
  }

  // -- phase changes (the only place that assigns phase_) --------------------

  void set_phase(phase next, effects& out);

  /// Follows `epoch` (fencing durably if higher) under `leader`.
  bool follow(uint64_t epoch, std::optional<replica_id> leader, effects& out);

  // -- leader side ------------------------------------------------------------

  void on_fence_reply(const fence_reply& msg, effects& out);
  void check_fence_quorum(effects& out);
  void on_pull_reply(const pull_reply& msg, effects& out);
  void serve(effects& out);
  void on_replicate_reply(const replicate_reply& msg, effects& out);
  /// Ships `f` the next batch; with its window full, nothing, or a
  /// heartbeat if `always`.
  void ship(follower_progress& f, effects& out, bool always = false);
  /// Entries `first..` up to `last` at most, bounded by `max_batch` and
  /// `max_batch_bytes`, extended to an append's end; nullopt if the log
  /// cannot be read.
  std::optional<std::vector<log_entry>> read_batch(position first,
                                                   position last) const;
  void request_pull(effects& out);
  void update_hw();
  void step_down(effects& out);
  void step_down_if_deposed(uint64_t fence, effects& out);
  /// The progress of the replica answering as (`id`, `incarnation`): the
  /// one that answered with that incarnation before (a learner's id may
  /// change with the learners), else the one with that id.
  follower_progress* progress_of(replica_id id, const std::string& incarnation);
  bool is_voter(replica_id id, const std::string& incarnation) const;
  std::size_t majority() const noexcept {
    return members_.size() / 2 + 1;
  }

  // -- follower side ----------------------------------------------------------

  void on_fence_request(const fence_request& msg, effects& out);
  void on_pull_request(const pull_request& msg, effects& out);
  void on_replicate(const replicate& msg, effects& out);
  void send_ack(position end, effects& out);

  replica_config cfg_;
  replica_log& log_;
  phase phase_ = phase::follower;
  uint64_t epoch_ = 0;
  std::optional<replica_id> leader_;
  position hw_ = 0;

  // Follower: our log equals the leader's up to here (this epoch).
  position matched_ = 0;

  // Leader side.
  membership members_;
  std::vector<fence_reply> votes_;
  std::optional<fence_reply> best_;
  // Recovering: our log is cut after pull_from_ - 1 once the first chunk
  // arrives; pull_next_ is the next position wanted from best_.
  position pull_from_ = 0;
  position pull_next_ = 0;
  position epoch_start_ = 0;
  std::vector<follower_progress> followers_;
};

} // namespace annals::replication
