// annals -- event-sourced aggregates on the C++ Actor Framework.
#include "control/controller.hpp"

#include "control/control_errc.hpp"

namespace annals::cluster::control {

using etcd::compare;
using etcd::request_op;

controller::controller(etcd::client c, controller_config cfg, int64_t lease)
  : client_(std::move(c)), cfg_(std::move(cfg)), keys_(cfg_.cluster),
    lease_(lease) {
}

caf::error controller::register_member(const registration& reg) {
  auto res = client_.put(keys_.member(cfg_.self), encode(reg), lease_);
  if (!res)
    return res.error();
  return {};
}

bool controller::holds(const std::vector<etcd::key_value>& kvs) const {
  return !kvs.empty() && kvs.front().value == cfg_.self
         && kvs.front().lease == lease_;
}

caf::expected<campaign_result> controller::campaign() {
  etcd::txn_request req;
  req.compares.push_back(compare::absent(keys_.controller()));
  req.success.push_back(request_op::put(keys_.controller(), cfg_.self, lease_));
  req.failure.push_back(request_op::range(keys_.controller()));
  auto res = client_.txn(req);
  if (!res)
    return res.error();
  if (res->succeeded)
    return campaign_result{true, cfg_.self};
  if (res->responses.empty())
    return make_error(control_errc::malformed_value,
                      "controller: campaign txn answered no range");
  const auto& kvs = res->responses.front().range.kvs;
  // Deleted between compare and range is impossible (one txn); an empty
  // range would mean etcd broke its own atomicity.
  if (kvs.empty())
    return campaign_result{false, {}};
  return campaign_result{holds(kvs), kvs.front().value};
}

caf::expected<controller::snapshot> controller::read_as_controller() {
  etcd::txn_request req;
  req.success.push_back(request_op::range_prefix(keys_.members_prefix()));
  req.success.push_back(request_op::range(keys_.map()));
  req.success.push_back(request_op::range(keys_.controller()));
  auto res = client_.txn(req);
  if (!res)
    return res.error();
  if (!res->succeeded || res->responses.size() != 3)
    return make_error(control_errc::malformed_value,
                      "controller: read txn answered "
                        + std::to_string(res->responses.size()) + " ranges");
  if (!holds(res->responses[2].range.kvs))
    return make_error(control_errc::not_controller,
                      "controller: " + cfg_.self
                        + " does not hold the controller key");
  snapshot out;
  out.members = decode_members(keys_, res->responses[0].range.kvs,
                               &counters_.malformed_members);
  auto map = decode_map_key(res->responses[1].range.kvs);
  if (!map)
    return map.error();
  out.map = std::move(*map);
  return out;
}

caf::expected<int64_t> controller::write_map(const partition_map& next,
                                             int64_t expected_mod_revision) {
  etcd::txn_request req;
  req.compares.push_back(compare::mod_revision(keys_.map(), compare::op::equal,
                                               expected_mod_revision));
  req.compares.push_back(
    compare::value_of(keys_.controller(), compare::op::equal, cfg_.self));
  req.compares.push_back(
    compare::lease(keys_.controller(), compare::op::equal, lease_));
  req.success.push_back(request_op::put(keys_.map(), encode(next)));
  auto res = client_.txn(req);
  if (!res)
    return res.error();
  if (!res->succeeded) {
    ++counters_.conflicts;
    return make_error(control_errc::conflict,
                      "controller: map changed since mod revision "
                        + std::to_string(expected_mod_revision) + " or "
                        + cfg_.self + " was deposed");
  }
  ++counters_.map_writes;
  return res->revision;
}

caf::expected<step_result>
controller::step(const std::set<std::string>& suspects) {
  auto snap = read_as_controller();
  if (!snap)
    return snap.error();
  std::optional<partition_map> current;
  int64_t rev = 0;
  if (snap->map) {
    current = snap->map->map;
    rev = snap->map->mod_revision;
  }
  // A suspicion fails over a member of the map only: a node the map does
  // not list (new, or back after a leave) is dialled by nobody until it is
  // listed, so a suspicion from its previous life would never clear.
  std::erase_if(snap->members, [&](const live_member& m) {
    return suspects.count(m.name) != 0 && current
           && current->find_member(m.name) != nullptr;
  });
  auto planned = plan(current, std::move(snap->members), cfg_.plan);
  if (!planned)
    return planned.error();
  if (!planned->changed)
    return step_result{false, 0, std::move(planned->map), rev};
  auto written = write_map(planned->map, rev);
  if (!written)
    return written.error();
  if (planned->failovers > 0) {
    ++counters_.failover_writes;
    counters_.failovers += planned->failovers;
  }
  return step_result{true, planned->failovers, std::move(planned->map),
                     *written};
}

caf::expected<step_result> controller::promote(partition_id p,
                                               const std::string& node,
                                               const std::string& incarnation) {
  auto snap = read_as_controller();
  if (!snap)
    return snap.error();
  if (!snap->map)
    return make_error(control_errc::not_a_learner,
                      "controller: no map yet, so no learner");
  auto next
    = promote_learner(snap->map->map, p, node, incarnation, cfg_.plan.vnodes);
  if (!next)
    return next.error();
  auto written = write_map(*next, snap->map->mod_revision);
  if (!written)
    return written.error();
  return step_result{true, 0, std::move(*next), *written};
}

template <class Change>
caf::expected<step_result> controller::amend(Change change) {
  auto snap = read_as_controller();
  if (!snap)
    return snap.error();
  if (!snap->map)
    return step_result{};
  caf::expected<promotion> next = change(snap->map->map);
  if (!next)
    return next.error();
  if (next->promoted == 0)
    return step_result{false, 0, std::move(next->map), snap->map->mod_revision};
  auto written = write_map(next->map, snap->map->mod_revision);
  if (!written)
    return written.error();
  return step_result{true, 0, std::move(next->map), *written};
}

caf::expected<step_result>
controller::promote(const std::vector<learner_report>& reports) {
  return amend([&](const partition_map& map) {
    return promote_learners(map, reports, cfg_.plan.vnodes);
  });
}

caf::expected<step_result>
controller::reappoint(const std::vector<stale_appointment>& reports) {
  return amend(
    [&](const partition_map& map) { return control::reappoint(map, reports); });
}

caf::expected<step_result>
controller::settle(const std::vector<settled_epoch>& reports) {
  return amend(
    [&](const partition_map& map) { return control::settle(map, reports); });
}

caf::expected<std::optional<map_read>> controller::read_map() const {
  return control::read_map(client_, keys_);
}

} // namespace annals::cluster::control
