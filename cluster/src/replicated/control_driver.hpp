// annals -- event-sourced aggregates on the C++ Actor Framework.
// Part of the cluster module (internal): connects one annals node to the
// etcd control plane (issue 14), for the node actor to wrap.
//
// What: owns the node's liveness lease (`lease_keeper`), its registration
// (`members/<self>` on that lease), a `map_watcher` that hands every newer
// partition map to `map_handler`, and a control thread that every
// `step_interval` campaigns for the controller key and, as controller,
// calls `controller::step` (the first controller's step writes the first
// map, once `bootstrap_members` nodes are registered).
//
// Operation:
// - A lost lease (etcd unreachable for a whole TTL, the process stopped
//   past it, or the lease revoked) leaves the node not live for etcd. The
//   control thread then grants a new lease as soon as etcd answers,
//   re-registers with the SAME incarnation and campaigns again; it then
//   revokes the lost lease (best effort), so a controller key still held
//   by it goes at once instead of after its TTL.
// - While etcd is down nothing is delivered: the last delivered map stays
//   in force (the data plane keeps committing; there is no failover until
//   etcd returns).
// - `stop` revokes the lease (a planned stop: the others fail over at
//   once); a killed process's lease simply expires.
//
// Errors: `start` returns `control_errc::invalid_argument` for an unusable
// configuration (no endpoints, empty names, zero partitions, RF, vnodes,
// TTL or interval), the etcd client's `invalid_argument`, and the etcd
// error of the first lease grant or registration (the caller may retry).
// Afterwards nothing throws and no failure stops the driver: failures are
// reported as log lines through `status_handler` (once per change).
//
// Threads: thread-safe. `map_handler` runs on the watcher's thread,
// `status_handler` on any of the driver's threads (never two at once);
// neither may call `stop`. `promote` and `leave` block up to a few etcd
// deadlines (they wait for the control thread's current round). `stop`
// and the destructor join every thread; no handler runs after `stop`
// returned.
#pragma once

#include "control/controller.hpp"
#include "control/map_watcher.hpp"
#include "control/partition_map.hpp"
#include "control/registration.hpp"
#include "etcd/etcd_client.hpp"
#include "etcd/lease_keeper.hpp"

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>

namespace annals::cluster::control {

struct driver_config {
  /// etcd endpoints, per-call deadline, TLS.
  etcd::client_config etcd;
  /// Cluster name, this node's name, partitions, RF, vnodes.
  controller_config controller;
  /// This node's incarnation, address and intent.
  registration self;
  /// TTL of the liveness lease (keep-alive every TTL/4).
  std::chrono::seconds lease_ttl{2};
  /// How often the control thread campaigns and, as controller, steps.
  std::chrono::milliseconds step_interval{250};
  /// A fresh cluster's first map is written only once this many members
  /// are registered, so that it starts with all of them as voters rather
  /// than growing by learners (1: as soon as the controller is elected).
  uint32_t bootstrap_members = 1;
};

/// What the driver is doing, for tests, metrics and the node's status.
struct driver_status {
  /// The node holds a lease etcd confirmed less than a TTL ago.
  bool lease_alive = false;
  /// The current lease's id (0: none).
  int64_t lease = 0;
  /// This node won its last campaign.
  bool is_controller = false;
  /// The controller key's holder at the last campaign (empty: unknown).
  std::string controller;
  /// Version and mod revision of the last map delivered (0: none yet).
  uint64_t map_version = 0;
  int64_t map_revision = 0;
  /// Maps delivered to `map_handler`.
  uint64_t maps_delivered = 0;
  /// Leases granted (1 + re-grants after losses).
  uint64_t leases_granted = 0;
  /// Leases lost (expired, revoked, or unconfirmed for a TTL).
  uint64_t leases_lost = 0;
  /// Successful registrations of `members/<self>`.
  uint64_t registrations = 0;
  /// Successful controller steps (written or not) and failed rounds
  /// (campaign or step errors).
  uint64_t steps = 0;
  uint64_t round_errors = 0;
  /// The counters of the controller on the current lease.
  controller_counters controller_counts;
};

/// One node's connection to the control plane (see the file comment).
class control_driver {
public:
  /// Called with every newer map and its JSON as stored in etcd.
  using map_handler
    = std::function<void(const partition_map&, std::string json)>;
  /// Called with log lines.
  using status_handler = std::function<void(const std::string& what)>;

  /// Checks `cfg`, grants the lease, registers, and starts the watcher
  /// and the control thread. Errors: see the file comment.
  static caf::expected<std::unique_ptr<control_driver>>
  start(driver_config cfg, map_handler on_map, status_handler on_status);

  ~control_driver();
  control_driver(const control_driver&) = delete;
  control_driver& operator=(const control_driver&) = delete;

  /// A planned stop: stops the control thread and the watcher, then
  /// revokes the lease (the registration and a held controller key go at
  /// once). Idempotent.
  void stop();

  /// A planned leave: registers this node with intent `leave` (kept for
  /// every later re-registration); the controller then moves its replicas
  /// away and drops it. Errors: etcd errors of the registration (the
  /// intent is kept and registered with the next lease in any case);
  /// `etcd_errc::unavailable` if the node holds no lease right now.
  caf::error leave();

  /// A leader's replica reports that learner (`node`, `incarnation`) of
  /// partition `p` holds its log up to the high watermark. Non-blocking:
  /// the control thread's next round promotes it (as controller) or
  /// reports it in etcd for the controller (`caught_up/<p>/<node>`, on this
  /// node's lease). Repeated reports are harmless; ignored after `stop`.
  void report_caught_up(partition_id p, std::string node,
                        std::string incarnation);

  /// This node lost (`lost`) or regained its connection to node `name`. As
  /// controller, it plans a lost node as if its lease were gone (its
  /// partitions fail over at once, `controller::step`) until it is back;
  /// a loss wakes the control thread. Thread-safe, non-blocking.
  void suspect(const std::string& name, bool lost);

  /// This node's replica cannot lead partition `p` at `epoch`, to which
  /// the map appointed it (it restarted after fencing that epoch). Non-
  /// blocking: the next round appoints it again at epoch+1 (as controller)
  /// or reports it in etcd (`reappoint/<p>/<node>`, on this node's lease).
  void report_stale_appointment(partition_id p, uint64_t epoch);

  /// This node's replica leads partition `p` at `epoch` and its high
  /// watermark reached the epoch's start: the voters settled, the next
  /// voter change may go ahead. Non-blocking: the next round marks it in
  /// the map (as controller) or reports it in etcd (`settled/<p>/<node>`,
  /// on this node's lease).
  void report_settled(partition_id p, uint64_t epoch);

  /// Promotes a caught-up learner, if this node is controller (one CAS).
  /// Errors: `not_controller` (this node does not hold the controller key
  /// or no lease now: ask the controller), the controller's errors
  /// (`not_a_learner`, `conflict`, etcd errors).
  caf::expected<step_result> promote(partition_id p, const std::string& node,
                                     const std::string& incarnation);

  /// A snapshot of the driver's state.
  driver_status status() const;

private:
  control_driver(driver_config cfg, etcd::client c, map_handler on_map,
                 status_handler on_status);

  /// Grants a lease and registers on it (control thread, or `start`).
  caf::error connect();

  /// The keeper's `on_lost`: wakes the control thread (keeper's thread).
  void lease_lost(const caf::error& reason);

  /// Drops a lost lease and its controller (control thread).
  void disconnect(const std::string& why);

  /// One round: reconnect if needed, campaign, step (control thread).
  void round();

  /// A suspected controller (see `suspect`): revokes its lease so that the
  /// next campaign need not wait for its TTL (control thread).
  void depose_lost_controller();

  /// True if the first map may be written now (see `bootstrap_members`).
  bool may_bootstrap();

  void run();
  void log(const std::string& what);
  /// Logs `what` under `topic` unless it is what was logged there last.
  void log_change(const std::string& topic, const std::string& what);

  driver_config cfg_;
  etcd::client client_;
  map_handler on_map_;
  status_handler on_status_;

  // -- guarded by ctl_mtx_ (the control thread, `promote`, `leave`, `stop`)

  mutable std::mutex ctl_mtx_;
  std::unique_ptr<etcd::lease_keeper> keeper_;
  std::unique_ptr<controller> controller_;
  /// A lease given up while etcd did not answer; revoked once it does.
  int64_t stale_lease_ = 0;
  /// A map exists in etcd (seen by a step or the watcher).
  bool map_seen_ = false;

  /// Handles caught-up, stale-appointment and settled reports (control thread):
  /// as controller, applies them and what other nodes wrote to etcd, one map
  /// write per kind; else writes them to etcd for the controller.
  void handle_reports(bool elected);

  // -- guarded by mtx_ ---------------------------------------------------

  mutable std::mutex mtx_;
  std::condition_variable cv_;
  bool stopping_ = false;
  bool stopped_ = false;
  bool lease_lost_ = false;
  std::string lost_reason_;
  driver_status status_;
  std::vector<learner_report> reports_;
  std::set<std::string> suspects_;
  /// A new suspicion: step now.
  bool wake_ = false;
  std::vector<stale_appointment> stale_;
  std::vector<settled_epoch> settled_;

  // -- guarded by log_mtx_ (serializes `on_status_`) ---------------------

  std::mutex log_mtx_;
  std::vector<std::pair<std::string, std::string>> last_logged_;

  std::atomic<bool> map_delivered_{false};
  std::unique_ptr<map_watcher> watcher_;
  std::thread thread_;
};

} // namespace annals::cluster::control
