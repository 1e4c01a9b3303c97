// annals -- event-sourced aggregates on the C++ Actor Framework.
// Part of the runtime module: hosting aggregates as actors.
#pragma once

#include "annals/aggregate.hpp"
#include "annals/aggregate_handle.hpp"
#include "annals/detail/aggregate_host.hpp"
#include "annals/detail/runtime_context.hpp"
#include "annals/persistence/journal.hpp"
#include "annals/runtime_config.hpp"
#include "annals/subscription.hpp"

#include <caf/actor_system.hpp>

#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace annals {

namespace detail {
struct cursor_probe;
} // namespace detail

/// A running subscription (see subscription.hpp). Copyable handle; the
/// subscription runs until `cancel()` or the runtime's shutdown.
class subscription {
public:
  subscription() = default;
  subscription(caf::actor_system* sys, uint64_t id, caf::actor worker)
    : sys_(sys), id_(id), worker_(std::move(worker)) {
  }

  uint64_t id() const noexcept {
    return id_;
  }

  /// The actor that reads the journal for this subscription.
  const caf::actor& worker() const noexcept {
    return worker_;
  }

  /// Stops the subscription gracefully: the batch in flight completes and
  /// a durable consumer saves its positions before the cursor quits (a
  /// group member that leaves hands over exactly where it stopped).
  void cancel();

  /// Re-delivers the parked events (in stream order) and unparks those the
  /// subscriber handles. Blocking. @returns how many were handled.
  caf::expected<uint64_t> replay_parked(caf::timespan timeout
                                        = std::chrono::seconds{10}) const;

private:
  caf::actor_system* sys_ = nullptr;
  uint64_t id_ = 0;
  caf::actor worker_;
};

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
/// runtime, waits until all are gone, and closes the journal: a runtime can
/// then start again on the same directory in the same process. Destroy the
/// runtime before the actor system; stop a cluster node (and anything else
/// that uses this runtime from outside it) before the runtime.
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
  /// After `shutdown`, the handle's commands fail at once: with
  /// `caf::sec::request_receiver_down` (the stopped host), or
  /// `caf::sec::invalid_argument` for a type never hosted (a null actor).
  template <class A>
  aggregate_handle<A> host(host_options opts) {
    static_assert(check_aggregate<A>());
    std::lock_guard guard{mtx_};
    auto key = std::string{A::category};
    caf::actor h;
    if (auto it = hosts_.find(key); it != hosts_.end())
      h = it->second;
    else if (!stopped_)
      h = hosts_[key] = sys_.spawn(detail::aggregate_host<A>, ctx_, opts);
    return aggregate_handle<A>{sys_, h, ctx_->cfg.command_timeout, deadlines_};
  }

  template <class A>
  aggregate_handle<A> host() {
    return host<A>(ctx_->cfg.hosts);
  }

  // -- subscriptions ----------------------------------------------------------

  /// Delivers committed events to `subscriber` (an actor answering
  /// `event_batch` requests with `batch_done`), as `opts` says. After
  /// `shutdown` (this and the two below): a subscription with id 0 and a
  /// null worker, which delivers nothing.
  subscription subscribe(caf::actor subscriber, subscription_options opts);

  /// The callback form: `f` runs in an actor of its own, one event at a
  /// time, in order; an error return refuses the event (retried, then
  /// parked).
  subscription subscribe(subscription_options opts, event_handler f);

  /// A projection named `name` keeping a read model (model `name` in the
  /// journal): `f` updates rows for each event, and the rows commit in the
  /// same transaction as the projection's checkpoint, so after a restart
  /// the model reflects each event exactly once. Resumes from the
  /// checkpoint.
  subscription project(std::string name, subscription_filter filter,
                       projection_handler f);

  /// Makes `a` part of the runtime: `shutdown` stops it with the runtime's
  /// own actors, and waits for it (for helper actors such as a saga
  /// subscriber, which must not outlive the runtime -- a pending request
  /// timeout would otherwise keep the actor system waiting). After
  /// `shutdown`, sends `a` an exit at once.
  void adopt(caf::actor a);

  // -- for the cluster module ------------------------------------------------

  /// The host actor of aggregate category `category`, or a null handle if
  /// no host of that category was started. Thread-safe.
  caf::actor host_actor(const std::string& category) const;

  /// Every host started so far. Thread-safe.
  std::vector<caf::actor> host_actors() const;

  /// Sets the owner epoch written with partition `p`'s events (fencing: the
  /// journal refuses writers with an older epoch). Thread-safe.
  void set_epoch(partition_id p, uint64_t epoch);

  /// Turns replication on (call once, before commands run): every
  /// partition becomes invisible to subscriptions up to `set_visible`;
  /// after each commit the writer tells `replicator`
  /// `(committed_atom, std::vector<committed_end>)`, and holds the reply of
  /// each append stamped with an epoch until `replicator` sends it
  /// `(released_atom, std::vector<committed_end>)` with an entry
  /// `{partition, high_watermark, epoch}` covering it, or
  /// `(lost_atom, partition, epoch)` (the reply is then
  /// `errc::outcome_unknown`). Thread-safe.
  void enable_replication(const caf::actor& replicator);

  /// Raises what subscriptions may read of partition `p` to position `end`
  /// (its high watermark; never lowered) and wakes them. Thread-safe.
  void set_visible(partition_id p, position end);

  /// `set_visible` of each `{partition, high watermark}` in `ends` (their
  /// `epoch` is ignored), waking the subscriptions once for all.
  void set_visible(const std::vector<committed_end>& ends);

  /// What subscriptions may read of partition `p` (all of it without
  /// replication).
  position visible_end(partition_id p) const noexcept;

  /// Replication: whether this node leads partition `p` now (set by the
  /// replicator when its replica starts or stops serving; becoming leader
  /// wakes `leading_only` subscriptions). Without replication every
  /// partition is led. Thread-safe.
  void set_leading(partition_id p, bool leads);
  bool leads(partition_id p) const noexcept;

  /// The journal writer (group commit). Accepts `commit_atom, write_batch`
  /// (checkpoints, models, snapshots; replies `ok_atom`) and `import_atom,
  /// write_batch` (any batch, committed on its own; replies `batch_result`
  /// and wakes the cursors of the partitions it appended to).
  const caf::actor& writer() const noexcept {
    return ctx_->writer;
  }

  /// The broker: `(sub_join_atom, actor)` registers an actor for
  /// `(wake_atom, std::vector<partition_id>)` after every commit.
  const caf::actor& broker() const noexcept {
    return ctx_->broker;
  }

  /// A subscriber actor (speaking `event_batch` / `batch_done`) that runs
  /// `f` per event -- for cursors outside the runtime (cluster-wide
  /// subscriptions). Stopped with the runtime.
  caf::actor spawn_callback_adapter(event_handler f);

  /// A subscriber actor that keeps projection `name`: model rows and the
  /// checkpoints of the delivered partitions commit in one transaction
  /// before each batch is acknowledged. Stopped with the runtime.
  caf::actor spawn_projection_adapter(std::string name, projection_handler f);

  /// The parked events of durable consumer `consumer`; `errc::unavailable`
  /// after `shutdown`.
  caf::expected<std::vector<parked_event>>
  parked(const std::string& consumer) const;

  /// The progress of every running subscription of this runtime
  /// (`subscribe`, `project`; the cluster module's cursors report through
  /// `cluster::node::subscriptions`): its lag behind the local journal's
  /// partition ends and its parked events. Positions are those the cursors
  /// published after their last batch; the ends and the parked rows are read
  /// from the journal now. Thread-safe; each call reads every partition's
  /// end, so call it per scrape, not per event.
  /// @returns the journal's error if the ends cannot be read;
  ///          `errc::unavailable` after `shutdown`.
  caf::expected<std::vector<subscription_progress>> subscriptions() const;

  /// Stops the runtime and closes its journal. In order:
  ///  1. Hosts, subscription cursors and adapters, and adopted actors get an
  ///     exit. A host first stops its aggregates. An aggregate answers the
  ///     commands it has not decided yet with `errc::unavailable` (nothing
  ///     written; safe to retry), answers those whose events are being
  ///     committed once the writer replies (their ack, or `outcome_unknown`
  ///     for a reply held for replication), and quits. Commands that reach
  ///     a stopped actor get `caf::sec::request_receiver_down`. No caller
  ///     of a command waits forever.
  ///  2. Once every one of them has terminated: the broker, the recovery
  ///     gate and the writer (which commits what it still holds).
  ///  3. Once those have terminated: armed reply deadlines fail, and the
  ///     runtime drops its reference to the journal. With a journal opened
  ///     by `start(sys, cfg)`, that is the last one: LMDB's environment and
  ///     the directory lock are closed before `shutdown` returns, and
  ///     `start` on the same directory succeeds. With a journal passed to
  ///     `start(sys, cfg, store)`, it closes when the caller drops its
  ///     `store` too. A `start` on a directory still open fails at once
  ///     with `journal_errc::locked`.
  ///
  /// Blocks until step 3 is done (it logs a warning every 10 s while an
  /// actor has not stopped, e.g. a subscription handler that does not
  /// return). Idempotent and thread-safe: each call from outside CAF's
  /// threads returns once the journal is released. Not for an actor's handler,
  /// which could be one of the actors it waits for: on any CAF thread (known by
  /// CAF's thread names) it starts steps 1 and 2, logs a warning and returns at
  /// once; the next call from another thread (the destructor, say) waits as
  /// above, else the journal closes when the runtime is destroyed and its
  /// actors are gone.
  ///
  /// References from `store()` dangle once it returns; handles from
  /// `host`, `subscription`s and `deadlines()` stay valid (as stopped
  /// actors) and do not keep the journal open.
  void shutdown();

  runtime_stats stats() const;

  /// The journal. Valid until `shutdown`; calling it after is a programmer
  /// error (throws `std::logic_error`).
  journal& store();

  caf::actor_system& system() noexcept {
    return sys_;
  }

  const runtime_config& config() const noexcept {
    return ctx_->cfg;
  }

  /// The request timeouts of this runtime's aggregate handles (stopped,
  /// failing what is armed, at shutdown).
  const std::shared_ptr<reply_deadlines>& deadlines() const noexcept {
    return deadlines_;
  }

private:
  runtime(caf::actor_system& sys, detail::context_ptr ctx);

  /// The journal, or null after `shutdown`.
  std::shared_ptr<journal> open_store() const;

  caf::actor_system& sys_;
  detail::context_ptr ctx_;
  std::shared_ptr<reply_deadlines> deadlines_;
  /// Sends the exits (see `shutdown`); under `mtx_`. Ready once the
  /// runtime's actors have all terminated.
  std::future<void> begin_stop();

  /// Held by a `shutdown` that waits (never on a CAF thread); it takes
  /// `mtx_` only inside.
  std::mutex shutdown_mtx_;
  std::shared_future<void> stopped_future_;
  mutable std::mutex mtx_;
  std::map<std::string, caf::actor> hosts_;
  std::vector<caf::actor> subscription_actors_;
  std::map<std::string, caf::actor> coordinators_;
  /// One per subscription; expires with its cursor.
  std::vector<std::weak_ptr<detail::cursor_probe>> probes_;
  uint64_t next_subscription_ = 1;
  bool stopped_ = false;
};

} // namespace annals
