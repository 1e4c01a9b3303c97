// annals -- event-sourced aggregates on the C++ Actor Framework.
#include "replicated/control_driver.hpp"

#include "control/control_errc.hpp"
#include "control/map_store.hpp"
#include "etcd/etcd_errc.hpp"

#include <algorithm>

namespace annals::cluster::control {

namespace {

caf::error invalid(std::string what) {
  return make_error(control_errc::invalid_argument,
                    "control driver: " + std::move(what));
}

caf::error check(const driver_config& cfg) {
  if (cfg.etcd.endpoints.empty())
    return invalid("no etcd endpoints");
  for (const auto& ep : cfg.etcd.endpoints)
    if (ep.empty())
      return invalid("an empty etcd endpoint");
  if (cfg.etcd.deadline.count() <= 0)
    return invalid("etcd deadline must be positive");
  if (cfg.controller.cluster.empty())
    return invalid("empty cluster name");
  if (cfg.controller.self.empty())
    return invalid("empty node name (controller.self)");
  if (cfg.controller.self.find('/') != std::string::npos)
    return invalid("node name '" + cfg.controller.self + "' contains '/'");
  if (cfg.controller.plan.partitions == 0)
    return invalid("zero partitions");
  if (cfg.controller.plan.rf == 0)
    return invalid("replication factor 0");
  if (cfg.controller.plan.vnodes == 0)
    return invalid("zero ring points per member (vnodes)");
  if (cfg.self.incarnation.empty())
    return invalid("empty incarnation");
  if (cfg.lease_ttl.count() <= 0)
    return invalid("lease TTL must be at least 1 s");
  if (cfg.step_interval.count() <= 0)
    return invalid("step interval must be positive");
  return {};
}

} // namespace

// -- construction and shutdown ------------------------------------------------

caf::expected<std::unique_ptr<control_driver>>
control_driver::start(driver_config cfg, map_handler on_map,
                      status_handler on_status) {
  if (auto err = check(cfg))
    return err;
  auto c = etcd::client::make(cfg.etcd);
  if (!c)
    return std::move(c.error());
  std::unique_ptr<control_driver> d{new control_driver(
    std::move(cfg), std::move(*c), std::move(on_map), std::move(on_status))};
  {
    std::lock_guard guard{d->ctl_mtx_};
    if (auto err = d->connect())
      return err;
  }
  auto on_map_read = [self = d.get()](const map_read& x) {
    self->map_delivered_.store(true);
    {
      std::lock_guard guard{self->mtx_};
      self->status_.map_version = x.map.version;
      self->status_.map_revision = x.mod_revision;
      ++self->status_.maps_delivered;
    }
    self->log_change("watch", "");
    self->log("map version " + std::to_string(x.map.version) + " (mod revision "
              + std::to_string(x.mod_revision) + ") delivered");
    if (self->on_map_)
      self->on_map_(x.map, x.json);
  };
  auto on_watch_error = [self = d.get()](const caf::error& err) {
    self->log_change("watch",
                     "cannot read the map (the last one stays in force): "
                       + describe(err));
  };
  d->watcher_ = std::make_unique<map_watcher>(
    d->client_, cluster_keys{d->cfg_.controller.cluster},
    std::move(on_map_read), std::move(on_watch_error));
  d->thread_ = std::thread{[self = d.get()] { self->run(); }};
  return d;
}

control_driver::control_driver(driver_config cfg, etcd::client c,
                               map_handler on_map, status_handler on_status)
  : cfg_(std::move(cfg)), client_(std::move(c)), on_map_(std::move(on_map)),
    on_status_(std::move(on_status)) {
}

control_driver::~control_driver() {
  stop();
}

void control_driver::stop() {
  {
    std::lock_guard guard{mtx_};
    if (stopped_)
      return;
    stopped_ = true;
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable())
    thread_.join();
  if (watcher_)
    watcher_->stop();
  std::lock_guard guard{ctl_mtx_};
  if (keeper_) {
    auto id = keeper_->id();
    // A lost lease is not revoked (`stop` returns no error then).
    if (auto err = keeper_->stop(true);
        err && !is(err, etcd::etcd_errc::lease_not_found))
      log("stop: cannot revoke lease " + std::to_string(id)
          + " (it expires after its TTL): " + describe(err));
    else
      log("stop: lease " + std::to_string(id) + " revoked");
    keeper_.reset();
  }
  controller_.reset();
  if (stale_lease_ != 0) {
    [[maybe_unused]] auto err = client_.revoke(stale_lease_);
    stale_lease_ = 0;
  }
  std::lock_guard status_guard{mtx_};
  status_.lease_alive = false;
  status_.lease = 0;
  status_.is_controller = false;
}

// -- the lease and the registration -------------------------------------------

void control_driver::lease_lost(const caf::error& reason) {
  {
    std::lock_guard guard{mtx_};
    lease_lost_ = true;
    lost_reason_ = describe(reason);
    status_.lease_alive = false;
    status_.is_controller = false;
  }
  cv_.notify_all();
}

caf::error control_driver::connect() {
  auto keeper = etcd::lease_keeper::start(
    client_, cfg_.lease_ttl, [this](caf::error reason) { lease_lost(reason); });
  if (!keeper)
    return std::move(keeper.error());
  auto id = (*keeper)->id();
  auto ctl = std::make_unique<controller>(client_, cfg_.controller, id);
  if (auto err = ctl->register_member(cfg_.self)) {
    [[maybe_unused]] auto revoked = (*keeper)->stop(true);
    return err;
  }
  keeper_ = std::move(*keeper);
  controller_ = std::move(ctl);
  {
    std::lock_guard guard{mtx_};
    status_.lease_alive = true;
    status_.lease = id;
    ++status_.leases_granted;
    ++status_.registrations;
  }
  log("lease " + std::to_string(id) + " granted; registered "
      + cfg_.controller.self + " (incarnation " + cfg_.self.incarnation
      + ", intent " + to_string(cfg_.self.intent) + ")");
  if (stale_lease_ != 0) {
    // Our keys are on the new lease now; revoking the old one removes a
    // controller key still attached to it, so the election does not wait
    // for its TTL. It may be gone already (expired): nothing to do then.
    auto err = client_.revoke(stale_lease_);
    if (!err)
      log("old lease " + std::to_string(stale_lease_) + " revoked");
    stale_lease_ = 0;
  }
  return {};
}

void control_driver::disconnect(const std::string& why) {
  if (!keeper_)
    return;
  auto id = keeper_->id();
  // Joins the keeper's thread: its `on_lost` (if any) has run after this.
  [[maybe_unused]] auto err = keeper_->stop(false);
  keeper_.reset();
  controller_.reset();
  stale_lease_ = id;
  {
    std::lock_guard guard{mtx_};
    lease_lost_ = false;
    lost_reason_.clear();
    status_.lease_alive = false;
    status_.lease = 0;
    status_.is_controller = false;
    status_.controller.clear();
    ++status_.leases_lost;
  }
  log("lease " + std::to_string(id) + " lost (" + why
      + "); this node is not live for etcd until it re-registers");
  log_change("controller", "controller: unknown (no lease)");
}

// -- the control thread -------------------------------------------------------

void control_driver::run() {
  for (;;) {
    {
      std::lock_guard guard{ctl_mtx_};
      round();
    }
    std::unique_lock guard{mtx_};
    cv_.wait_for(guard, cfg_.step_interval,
                 [this] { return stopping_ || lease_lost_ || wake_; });
    wake_ = false;
    if (stopping_)
      return;
  }
}

void control_driver::round() {
  std::string lost;
  {
    std::lock_guard guard{mtx_};
    if (lease_lost_)
      lost = lost_reason_.empty() ? "lost" : lost_reason_;
  }
  if (!lost.empty())
    disconnect(lost);
  if (!controller_) {
    if (auto err = connect()) {
      log_change("lease", "cannot get a lease (retrying every "
                            + std::to_string(cfg_.step_interval.count())
                            + " ms): " + describe(err));
      return;
    }
    log_change("lease", "");
  }
  auto fail = [this](const caf::error& err) {
    if (is(err, etcd::etcd_errc::lease_not_found)) {
      disconnect(describe(err));
      return;
    }
    {
      std::lock_guard guard{mtx_};
      ++status_.round_errors;
    }
    log_change("round", "control round failed: " + describe(err));
  };
  depose_lost_controller();
  auto won = controller_->campaign();
  if (!won) {
    fail(won.error());
    return;
  }
  {
    std::lock_guard guard{mtx_};
    status_.is_controller = won->elected;
    status_.controller = won->holder;
  }
  log_change("controller", won->elected ? "this node is the controller"
                                        : "controller: " + won->holder);
  if (!won->elected) {
    log_change("round", "");
    handle_reports(false);
    return;
  }
  if (!map_seen_ && !may_bootstrap())
    return;
  std::set<std::string> suspects;
  {
    std::lock_guard guard{mtx_};
    suspects = suspects_;
  }
  auto stepped = controller_->step(suspects);
  if (!stepped) {
    fail(stepped.error());
    return;
  }
  map_seen_ = true;
  {
    std::lock_guard guard{mtx_};
    ++status_.steps;
    status_.controller_counts = controller_->counters();
  }
  log_change("round", "");
  if (stepped->written)
    log("wrote map version " + std::to_string(stepped->map.version) + " ("
        + std::to_string(stepped->failovers) + " partitions failed over)");
  handle_reports(true);
}

void control_driver::report_caught_up(partition_id p, std::string node,
                                      std::string incarnation) {
  std::lock_guard guard{mtx_};
  if (stopping_)
    return;
  learner_report r{p, std::move(node), std::move(incarnation)};
  if (std::find(reports_.begin(), reports_.end(), r) == reports_.end())
    reports_.push_back(std::move(r));
}

void control_driver::depose_lost_controller() {
  std::string holder;
  {
    std::lock_guard guard{mtx_};
    if (status_.is_controller || !suspects_.count(status_.controller))
      return;
    holder = status_.controller;
  }
  // The controller's node closed its connection to us: most likely it
  // died. Revoking its lease (its controller and member keys go with it)
  // lets a new controller be elected now rather than after the TTL. If it
  // is alive after all, it registers again; nothing unsafe happens.
  auto key = client_.get(controller_->keys().controller());
  if (!key || key->kvs.empty() || key->kvs.front().value != holder
      || key->kvs.front().lease == 0)
    return;
  if (auto err = client_.revoke(key->kvs.front().lease))
    log_change("depose", "cannot revoke the lost controller " + holder
                           + "'s lease: " + describe(err));
  else
    log("revoked the lease of controller " + holder + ", lost");
}

void control_driver::suspect(const std::string& name, bool lost) {
  std::lock_guard guard{mtx_};
  if (stopping_ || name == cfg_.controller.self)
    return;
  if (!lost) {
    suspects_.erase(name);
    return;
  }
  if (suspects_.insert(name).second) {
    wake_ = true;
    cv_.notify_all();
  }
}

void control_driver::report_stale_appointment(partition_id p, uint64_t epoch) {
  std::lock_guard guard{mtx_};
  if (stopping_)
    return;
  stale_appointment r{p, cfg_.controller.self, epoch};
  if (std::find(stale_.begin(), stale_.end(), r) == stale_.end())
    stale_.push_back(std::move(r));
}

void control_driver::report_settled(partition_id p, uint64_t epoch) {
  std::lock_guard guard{mtx_};
  if (stopping_)
    return;
  settled_epoch r{p, cfg_.controller.self, epoch};
  if (std::find(settled_.begin(), settled_.end(), r) == settled_.end())
    settled_.push_back(std::move(r));
}

namespace {

/// `<partition>/<node>` after `prefix` in `key`, or nothing.
std::optional<std::pair<partition_id, std::string>>
split_report_key(const std::string& key, const std::string& prefix) {
  auto rest = key.substr(prefix.size());
  auto slash = rest.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 == rest.size())
    return std::nullopt;
  return std::pair{
    static_cast<partition_id>(std::strtoul(rest.c_str(), nullptr, 10)),
    rest.substr(slash + 1)};
}

} // namespace

void control_driver::handle_reports(bool elected) {
  std::vector<learner_report> learners;
  std::vector<stale_appointment> stale;
  std::vector<settled_epoch> settled;
  {
    std::lock_guard guard{mtx_};
    learners.swap(reports_);
    stale.swap(stale_);
    settled.swap(settled_);
  }
  const auto& keys = controller_->keys();
  auto requeue = [this, &learners, &stale, &settled] {
    std::lock_guard guard{mtx_};
    reports_.insert(reports_.end(), learners.begin(), learners.end());
    stale_.insert(stale_.end(), stale.begin(), stale.end());
    settled_.insert(settled_.end(), settled.begin(), settled.end());
  };
  if (!elected) {
    // For the controller, on this node's lease (gone with the node).
    auto lease = keeper_ ? keeper_->id() : 0;
    for (const auto& r : learners)
      if (auto put = client_.put(keys.caught_up(r.partition, r.node),
                                 r.incarnation, lease);
          !put)
        log_change("reports", "cannot report a caught-up learner: "
                                + describe(put.error()));
    for (const auto& r : stale)
      if (auto put = client_.put(keys.reappoint(r.partition, r.node),
                                 std::to_string(r.epoch), lease);
          !put)
        log_change("reports", "cannot report a stale appointment: "
                                + describe(put.error()));
    for (const auto& r : settled)
      if (auto put = client_.put(keys.settled(r.partition, r.node),
                                 std::to_string(r.epoch), lease);
          !put)
        log_change("reports",
                   "cannot report settled voters: " + describe(put.error()));
    return;
  }
  // As controller: this node's reports and the others' keys, each kind in
  // one map write; the keys go once the write covered them.
  std::vector<std::string> learner_keys, stale_keys, settled_keys;
  if (auto written = client_.get_prefix(keys.caught_up_prefix()))
    for (const auto& kv : written->kvs)
      if (auto k = split_report_key(kv.key, keys.caught_up_prefix())) {
        learners.push_back({k->first, k->second, kv.value});
        learner_keys.push_back(kv.key);
      }
  if (auto written = client_.get_prefix(keys.reappoint_prefix()))
    for (const auto& kv : written->kvs)
      if (auto k = split_report_key(kv.key, keys.reappoint_prefix())) {
        stale.push_back(
          {k->first, k->second, std::strtoull(kv.value.c_str(), nullptr, 10)});
        stale_keys.push_back(kv.key);
      }
  if (auto written = client_.get_prefix(keys.settled_prefix()))
    for (const auto& kv : written->kvs)
      if (auto k = split_report_key(kv.key, keys.settled_prefix())) {
        settled.push_back(
          {k->first, k->second, std::strtoull(kv.value.c_str(), nullptr, 10)});
        settled_keys.push_back(kv.key);
      }
  bool ok = true;
  // Logs the outcome of one map write; its report keys go once it landed.
  auto settle = [&](const caf::expected<step_result>& res,
                    const std::vector<std::string>& keys_done,
                    const std::string& what) {
    if (!res) {
      ok = false;
      log_change("reports", "cannot " + what + ": " + describe(res.error()));
      return;
    }
    if (res->written)
      log(what + ": map version " + std::to_string(res->map.version));
    for (const auto& k : keys_done)
      static_cast<void>(client_.erase(k));
  };
  // Settled first: a promotion waits for it.
  if (!settled.empty())
    settle(controller_->settle(settled), settled_keys, "mark settled voters");
  if (!learners.empty())
    settle(controller_->promote(learners), learner_keys,
           "promote caught-up learners");
  if (!stale.empty())
    settle(controller_->reappoint(stale), stale_keys,
           "appoint restarted leaders again");
  if (ok) {
    log_change("reports", "");
    return;
  }
  // Keys stay in etcd for the next round; this node's own reports too.
  auto mine = [this](const auto& r) { return r.node == cfg_.controller.self; };
  std::erase_if(learners, [&](const auto& r) { return !mine(r); });
  std::erase_if(stale, [&](const auto& r) { return !mine(r); });
  std::erase_if(settled, [&](const auto& r) { return !mine(r); });
  requeue();
}

bool control_driver::may_bootstrap() {
  if (cfg_.bootstrap_members <= 1 || map_delivered_.load()) {
    map_seen_ = true;
    return true;
  }
  auto current = controller_->read_map();
  if (!current) {
    log_change("round", "cannot read the map: " + describe(current.error()));
    return false;
  }
  if (*current) {
    map_seen_ = true;
    return true;
  }
  cluster_keys keys{cfg_.controller.cluster};
  auto regs = client_.get_prefix(keys.members_prefix());
  if (!regs) {
    log_change("round", "cannot read the members: " + describe(regs.error()));
    return false;
  }
  auto live = decode_members(keys, regs->kvs);
  if (live.size() >= cfg_.bootstrap_members)
    return true;
  log_change("bootstrap",
             "first map waits for " + std::to_string(cfg_.bootstrap_members)
               + " members (" + std::to_string(live.size()) + " registered)");
  return false;
}

// -- requests from other threads ----------------------------------------------

caf::error control_driver::leave() {
  std::lock_guard guard{ctl_mtx_};
  cfg_.self.intent = member_intent::leave;
  if (!controller_)
    return etcd::make_error(etcd::etcd_errc::unavailable,
                            "control driver: no lease now; the leave is "
                            "registered with the next lease");
  if (auto err = controller_->register_member(cfg_.self))
    return err;
  {
    std::lock_guard status_guard{mtx_};
    ++status_.registrations;
  }
  log("registered " + cfg_.controller.self + " with intent leave");
  return {};
}

caf::expected<step_result>
control_driver::promote(partition_id p, const std::string& node,
                        const std::string& incarnation) {
  std::lock_guard guard{ctl_mtx_};
  if (!controller_)
    return make_error(control_errc::not_controller,
                      "control driver: " + cfg_.controller.self
                        + " holds no lease now");
  auto res = controller_->promote(p, node, incarnation);
  {
    std::lock_guard status_guard{mtx_};
    status_.controller_counts = controller_->counters();
  }
  if (res)
    log("promoted learner " + node + " (" + incarnation + ") of partition "
        + std::to_string(p) + ": map version "
        + std::to_string(res->map.version));
  return res;
}

driver_status control_driver::status() const {
  std::lock_guard guard{mtx_};
  return status_;
}

// -- logging ------------------------------------------------------------------

void control_driver::log(const std::string& what) {
  std::lock_guard guard{log_mtx_};
  if (on_status_)
    on_status_(cfg_.controller.self + ": " + what);
}

void control_driver::log_change(const std::string& topic,
                                const std::string& what) {
  std::lock_guard guard{log_mtx_};
  auto i = std::find_if(last_logged_.begin(), last_logged_.end(),
                        [&](const auto& x) { return x.first == topic; });
  if (i == last_logged_.end()) {
    if (what.empty())
      return;
    last_logged_.emplace_back(topic, what);
  } else if (i->second == what) {
    return;
  } else {
    if (what.empty() && on_status_)
      on_status_(cfg_.controller.self + ": " + topic + ": recovered");
    i->second = what;
  }
  if (!what.empty() && on_status_)
    on_status_(cfg_.controller.self + ": " + what);
}

} // namespace annals::cluster::control
