// annals -- event-sourced aggregates on the C++ Actor Framework.
// Part of the cluster module: one node of a cluster.
#pragma once

#include "annals/aggregate_handle.hpp"
#include "annals/cluster/node_config.hpp"
#include "annals/cluster/status.hpp"
#include "annals/cluster/view.hpp"
#include "annals/runtime.hpp"

#include <caf/actor_system.hpp>

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace annals::cluster {

namespace control {
class control_driver;
} // namespace control

/// A node of an annals cluster: the runtime of this process plus routing,
/// and in replicated mode the control plane (etcd) and replication.
///
/// ~~~
/// annals::cluster::config cfg;        // --annals.* and --cluster.* options
/// cfg.parse(argc, argv);
/// caf::actor_system sys{cfg};
/// auto rt = annals::runtime::start(sys, cfg.runtime());
/// auto node = annals::cluster::node::start(sys, **rt, cfg.node());
/// auto accounts = (*node)->host<bank::account>();   // any node, any id
/// accounts.ask("alice", bank::credit{500});
/// ~~~
///
/// Without `cfg.etcd` the node runs alone (standalone): it serves every
/// partition and costs what the in-process runtime costs. With it, the
/// node registers in etcd and serves what the controller's partition map
/// appoints it to; any number of nodes form a cluster that way.
///
/// # Guarantees
/// - A command sent through any node's handle reaches the leader of its
///   aggregate's partition and its reply comes back. One sender's commands
///   to one aggregate keep their order, also while the leader changes.
/// - One writer per partition: every leader or voter change raises the
///   partition's epoch, and replicas refuse a leader of an older one.
/// - Replicated mode: a reply is released only once a majority of the
///   partition's voters hold the events durably; a failed leader's
///   partitions fail over (see cluster/README.md). With RF 1 a dead node's
///   partitions are unavailable until it returns.
/// - A partition whose leader is unreachable answers `errc::unavailable`
///   at once; a leader lost with a command in flight answers
///   `errc::outcome_unknown` (retry with the same command id: dedupe makes
///   it exactly-once).
///
/// # Errors
/// `start` fails with `errc::invalid_command` for a bad configuration (no
/// name, incomplete TLS, `seeds`, a directory of an old multi-node
/// cluster), with the control plane's error when etcd refuses the node,
/// and with CAF's error if the port cannot be bound.
///
/// # Concurrency
/// All member functions are thread-safe; the blocking ones (`start`,
/// `leave`, `status`, `await_settled`) must not run inside an actor.
class node {
public:
  /// Publishes the node actor on `cfg.host:cfg.port`; with `cfg.etcd`
  /// registers in etcd (a restart keeps its data directory's incarnation
  /// and rejoins as before). `rt` must outlive the node.
  static caf::expected<std::unique_ptr<node>>
  start(caf::actor_system& sys, runtime& rt, node_config cfg);

  ~node();
  node(const node&) = delete;
  node& operator=(const node&) = delete;

  /// A handle for aggregates of type `A` anywhere in the cluster. Every
  /// node of the cluster must host the same aggregate types.
  template <class A>
  aggregate_handle<A> host() {
    rt_.host<A>();
    return aggregate_handle<A>{sys_, actor_, rt_.config().command_timeout,
                               rt_.deadlines()};
  }

  /// Sends `env` to its aggregate's owner without blocking; `done` gets
  /// the reply (as a message holding the reply value) or the error, exactly
  /// once, on an actor thread. Remote hops time out with
  /// `errc::outcome_unknown`.
  void send(command_envelope env,
            std::function<void(caf::expected<caf::message>)> done);

  /// Reads up to `max` events of `stream` from revision `from` on, from
  /// the stream's owner (strongly consistent). Non-blocking, like `send`.
  void read_stream(
    stream_id stream, revision from, uint32_t max,
    std::function<void(caf::expected<std::vector<recorded_event>>)> done);

  /// Leaves the cluster gracefully: registers the intent to leave (the
  /// controller moves this node's replicas to the others, each new one
  /// caught up as a learner first) and returns once the partition map no
  /// longer lists this node. `errc::unavailable` if that takes longer than
  /// `timeout` (the leave goes on); `errc::invalid_command` on a
  /// standalone node. Blocks the caller.
  caf::error leave(caf::timespan timeout = std::chrono::seconds{60});

  /// What this node knows about the cluster.
  caf::expected<cluster_status> status() const;

  /// Replicated mode: one line per partition replica held here
  /// (`<partition> voter|learner <phase> epoch <e> hw <position> end
  /// <position> leader <node>`) after a line of counters; empty otherwise.
  std::string replication_status() const;

  /// Replicated mode: the partition replicas held here, in partition order
  /// (empty otherwise). Errors: `sec::request_timeout` if the replicator
  /// does not answer in 10 s. Thread-safe; blocks the caller.
  caf::expected<std::vector<replica_status>> replicas() const;

  /// Whether this node runs in replicated mode (`node_config::etcd`).
  bool replicated() const noexcept {
    return static_cast<bool>(replicator_);
  }

  /// Waits until this node has a partition map (or runs standalone) and
  /// serves every partition the map appoints it to lead.
  caf::error await_settled(caf::timespan timeout
                           = std::chrono::seconds{30}) const;

  /// A cluster-wide subscription: `f` sees the events of every partition
  /// (of `filter`) from the beginning, fetched from their owners, in
  /// per-stream order across leader changes. At-least-once; a refused event is
  /// retried. Stops with the runtime.
  void subscribe(subscription_filter filter, event_handler f);

  /// A cluster-wide projection kept on THIS node: model `"cluster:" + name`
  /// in the local journal, committed with its per-partition checkpoints, so
  /// it resumes where it stopped. Every node can keep its own copy.
  void project(const std::string& name, subscription_filter filter,
               projection_handler f);

  /// The progress of this node's cluster-wide cursors (`subscribe`,
  /// `project`), one entry each: `consumer` is the projection's model name
  /// (`model_name(name)`; empty for `subscribe`), `id` is 0, and
  /// `lag_events` counts the events of all partitions that the cursor has
  /// not read past, against each partition's end as its owner last reported
  /// it (at most about a second old while the cursor waits for events or
  /// delivers a batch; 0 before the first report). Events of other
  /// categories count until read past, so a caught-up cursor shows 0.
  /// `parked_events` is 0: cluster cursors retry a refused event, they
  /// never park it. Thread-safe and non-blocking.
  std::vector<subscription_progress> subscriptions() const;

  /// The model name under which `project(name, ...)` keeps its rows.
  static std::string model_name(const std::string& name) {
    return "cluster:" + name;
  }

  /// The bound cluster port.
  uint16_t port() const noexcept {
    return port_;
  }

  const std::string& name() const noexcept {
    return name_;
  }

  /// The node actor (accepts `command_envelope`s like a host).
  const caf::actor& actor() const noexcept {
    return actor_;
  }

  /// Stops the node actor (idempotent; also run by the destructor). The
  /// node stays a member: restarting it on the same data rejoins.
  void stop();

private:
  node(caf::actor_system& sys, runtime& rt, caf::actor a, uint16_t port,
       std::string name);

  /// Spawns the node actor, publishes it on the cluster port and tells it
  /// its address (shared by both kinds of start).
  static caf::expected<std::unique_ptr<node>>
  launch(caf::actor_system& sys, runtime& rt, const node_config& cfg,
         const caf::actor& mm, std::optional<std::vector<uint64_t>> standalone);

  /// `start` with `cfg.etcd` set: the replicated node.
  static caf::expected<std::unique_ptr<node>>
  start_replicated(caf::actor_system& sys, runtime& rt, node_config cfg,
                   caf::actor mm);

  /// A probe for a new cursor, registered for `subscriptions`.
  std::shared_ptr<annals::detail::cursor_probe>
  make_probe(std::string consumer);

  caf::actor_system& sys_;
  runtime& rt_;
  caf::actor actor_;
  uint16_t port_;
  std::string name_;
  mutable std::mutex probes_mtx_;
  /// One per cursor; expires with it.
  std::vector<std::weak_ptr<annals::detail::cursor_probe>> probes_;
  bool stopped_ = false;
  /// Replicated mode: the control plane's driver and the replicator.
  std::unique_ptr<control::control_driver> driver_;
  caf::actor replicator_;
  /// What the replicator reports caught-up learners to (the driver).
  std::shared_ptr<std::atomic<control::control_driver*>> promoter_;
  /// Replicated mode: the last map delivered lists this node as a member.
  std::shared_ptr<std::atomic<bool>> in_map_;
};

} // namespace annals::cluster
