// annals -- event-sourced aggregates on the C++ Actor Framework.
#include "control/planner.hpp"

#include "annals/cluster/ring.hpp"

#include "control/control_errc.hpp"

#include <algorithm>
#include <map>
#include <utility>

namespace annals::cluster::control {

namespace {

caf::error invalid(std::string what) {
  return make_error(control_errc::invalid_argument, "planner: " + what);
}

bool contains(const std::vector<std::string>& xs, const std::string& x) {
  return std::find(xs.begin(), xs.end(), x) != xs.end();
}

/// Live members by name.
using live_index = std::map<std::string, const live_member*>;

caf::error check_inputs(const std::vector<live_member>& live,
                        const plan_config& cfg) {
  if (cfg.partitions == 0 || cfg.rf == 0 || cfg.vnodes == 0)
    return invalid("partitions, rf and vnodes must be positive");
  for (size_t i = 0; i < live.size(); ++i) {
    if (live[i].name.empty() || live[i].incarnation.empty())
      return invalid("a live member without a name or incarnation");
    if (i > 0 && live[i - 1].name == live[i].name)
      return invalid("live member " + live[i].name + " listed twice");
  }
  return {};
}

partition_map first_map(const std::vector<live_member>& live,
                        const plan_config& cfg) {
  partition_map out;
  for (const auto& m : live)
    if (m.intent == member_intent::serve)
      out.members.push_back({m.name, m.incarnation, m.address, m.intent});
  out.rf
    = std::min<uint32_t>(cfg.rf, static_cast<uint32_t>(out.members.size()));
  out.partitions.resize(cfg.partitions);
  for (partition_id p = 0; p < cfg.partitions; ++p) {
    auto& x = out.partitions[p];
    for (const auto& node : target_replicas(out, p, cfg.vnodes))
      x.replicas.push_back({node, out.find_member(node)->incarnation});
    x.leader = x.replicas.front().node;
  }
  return out;
}

/// Merges the live registrations into the members (new serving members
/// join; known ones take their current incarnation, address and intent).
void update_members(partition_map& next, const std::vector<live_member>& live) {
  for (const auto& m : live) {
    member_info info{m.name, m.incarnation, m.address, m.intent};
    auto it = std::lower_bound(
      next.members.begin(), next.members.end(), m.name,
      [](const member_info& x, const std::string& n) { return x.name < n; });
    if (it != next.members.end() && it->name == m.name)
      *it = std::move(info);
    else if (m.intent == member_intent::serve)
      next.members.insert(it, std::move(info));
  }
}

uint32_t serving_members(const partition_map& map) {
  return static_cast<uint32_t>(
    std::count_if(map.members.begin(), map.members.end(), [](const auto& m) {
      return m.intent == member_intent::serve;
    }));
}

/// Per-partition planning over one map; `live` indexes the live members.
class partition_planner {
public:
  partition_planner(const partition_map& map, const live_index& live,
                    uint32_t vnodes)
    : map_(map), live_(live), vnodes_(vnodes) {
  }

  /// Plans `x` (partition `p`); returns true if it failed over.
  bool plan(partition_id p, partition_assignment& x) const {
    auto order = ring_order(map_, p, vnodes_);
    auto target = target_replicas(map_, p, vnodes_);
    bool failed_over = fail_over(x, order);
    if (!failed_over)
      shrink(x, order, target);
    x.learners = wanted_learners(x, target);
    return failed_over;
  }

private:
  bool is_live_voter(const replica_ref& r) const {
    auto it = live_.find(r.node);
    return it != live_.end() && it->second->incarnation == r.incarnation;
  }

  size_t live_voters(const std::vector<replica_ref>& voters) const {
    return static_cast<size_t>(
      std::count_if(voters.begin(), voters.end(),
                    [this](const auto& r) { return is_live_voter(r); }));
  }

  /// The first live voter of `voters` in ring order, or nullptr.
  const replica_ref* preferred(const std::vector<replica_ref>& voters,
                               const std::vector<std::string>& order) const {
    for (const auto& node : order)
      for (const auto& r : voters)
        if (r.node == node && is_live_voter(r))
          return &r;
    return nullptr;
  }

  bool fail_over(partition_assignment& x,
                 const std::vector<std::string>& order) const {
    auto leader
      = std::find_if(x.replicas.begin(), x.replicas.end(),
                     [&](const auto& r) { return r.node == x.leader; });
    if (leader != x.replicas.end() && is_live_voter(*leader))
      return false;
    if (live_voters(x.replicas) < majority(x.replicas.size()))
      return false; // no appointment could fence a majority: keep it
    x.leader = preferred(x.replicas, order)->node;
    ++x.epoch;
    return true;
  }

  void shrink(partition_assignment& x, const std::vector<std::string>& order,
              const std::vector<std::string>& target) const {
    if (x.replicas.size() <= map_.rf || !x.settled)
      return;
    // The first voter the ring does not want, a non-leader if there is one.
    auto victim = x.replicas.end();
    for (auto it = x.replicas.begin(); it != x.replicas.end(); ++it)
      if (!contains(target, it->node)
          && (victim == x.replicas.end() || victim->node == x.leader))
        victim = it;
    if (victim == x.replicas.end())
      return;
    auto rest = x.replicas;
    rest.erase(rest.begin() + (victim - x.replicas.begin()));
    if (live_voters(rest) < majority(rest.size()))
      return;
    if (victim->node == x.leader)
      x.leader = preferred(rest, order)->node;
    x.replicas = std::move(rest);
    x.settled = false;
    ++x.epoch;
  }

  std::vector<replica_ref>
  wanted_learners(const partition_assignment& x,
                  const std::vector<std::string>& target) const {
    std::vector<replica_ref> out;
    for (const auto& node : target) {
      auto voter = std::find_if(x.replicas.begin(), x.replicas.end(),
                                [&](const auto& r) { return r.node == node; });
      auto live = live_.find(node);
      if (live != live_.end()) {
        const auto& inc = live->second->incarnation;
        if (voter == x.replicas.end() || voter->incarnation != inc)
          out.push_back({node, inc});
        continue;
      }
      // Not live: keep its learner entry, if any, until it returns.
      auto old = std::find_if(x.learners.begin(), x.learners.end(),
                              [&](const auto& r) { return r.node == node; });
      if (old != x.learners.end())
        out.push_back(*old);
    }
    return out;
  }

  const partition_map& map_;
  const live_index& live_;
  uint32_t vnodes_;
};

bool names(const partition_assignment& x, const std::string& node) {
  auto is = [&](const replica_ref& r) { return r.node == node; };
  return std::any_of(x.replicas.begin(), x.replicas.end(), is)
         || std::any_of(x.learners.begin(), x.learners.end(), is);
}

/// Drops leaving members that no partition names any more.
void drop_departed(partition_map& next) {
  std::erase_if(next.members, [&](const member_info& m) {
    return m.intent == member_intent::leave
           && std::none_of(next.partitions.begin(), next.partitions.end(),
                           [&](const auto& x) { return names(x, m.name); });
  });
}

} // namespace

caf::expected<plan_result> plan(const std::optional<partition_map>& current,
                                std::vector<live_member> live,
                                const plan_config& cfg) {
  std::sort(live.begin(), live.end(),
            [](const auto& a, const auto& b) { return a.name < b.name; });
  if (auto err = check_inputs(live, cfg))
    return err;
  if (!current) {
    if (std::none_of(live.begin(), live.end(), [](const auto& m) {
          return m.intent == member_intent::serve;
        }))
      return make_error(control_errc::no_members,
                        "planner: no live serving member for the first map");
    return plan_result{first_map(live, cfg), true, 0};
  }
  if (auto err = validate(*current))
    return err;
  if (current->partitions.size() != cfg.partitions)
    return invalid("the map has " + std::to_string(current->partitions.size())
                   + " partitions, the configuration "
                   + std::to_string(cfg.partitions));
  plan_result out{*current, false, 0};
  auto& next = out.map;
  update_members(next, live);
  if (auto serving = serving_members(next); serving > 0)
    next.rf = std::min(cfg.rf, serving);
  live_index index;
  for (const auto& m : live)
    index.emplace(m.name, &m);
  partition_planner planner{next, index, cfg.vnodes};
  for (partition_id p = 0; p < cfg.partitions; ++p)
    if (planner.plan(p, next.partitions[p]))
      ++out.failovers;
  drop_departed(next);
  out.changed = next != *current;
  if (out.changed)
    next.version = current->version + 1;
  return out;
}

caf::expected<partition_map> promote_learner(const partition_map& map,
                                             partition_id p,
                                             const std::string& node,
                                             const std::string& incarnation,
                                             uint32_t vnodes) {
  if (auto err = validate(map))
    return err;
  if (p >= map.partitions.size() || vnodes == 0)
    return invalid("no partition " + std::to_string(p) + " or vnodes 0");
  auto next = map;
  auto& x = next.partitions[p];
  auto learner = std::find(x.learners.begin(), x.learners.end(),
                           replica_ref{node, incarnation});
  auto not_a_learner = [&](const char* why) {
    return make_error(control_errc::not_a_learner,
                      "planner: " + node + "/" + incarnation + " of partition "
                        + std::to_string(p) + ": " + why);
  };
  if (learner == x.learners.end())
    return not_a_learner("not a learner");
  if (!x.settled)
    return not_a_learner("the voters changed and have not settled yet");
  auto voter = std::find_if(x.replicas.begin(), x.replicas.end(),
                            [&](const auto& r) { return r.node == node; });
  if (voter != x.replicas.end()) {
    voter->incarnation = incarnation; // a wiped replica caught up
  } else {
    auto target = target_replicas(map, p, vnodes);
    if (!contains(target, node))
      return not_a_learner("the ring does not want it");
    // One voter more: `plan` then removes one the ring does not want, once
    // this change settled. A swap in one step could lose an entry committed
    // on a majority of the old voters only.
    if (x.replicas.size() > map.rf)
      return not_a_learner("the voters exceed rf until one leaves");
    x.replicas.push_back({node, incarnation});
  }
  x.learners.erase(learner);
  x.settled = false;
  ++x.epoch;
  ++next.version;
  if (auto err = validate(next))
    return err;
  return next;
}

caf::expected<promotion>
promote_learners(const partition_map& map,
                 const std::vector<learner_report>& reports, uint32_t vnodes) {
  if (auto err = validate(map))
    return err;
  if (vnodes == 0)
    return invalid("vnodes 0");
  promotion out{map, 0};
  for (const auto& r : reports) {
    auto next
      = promote_learner(out.map, r.partition, r.node, r.incarnation, vnodes);
    if (!next) {
      if (is(next.error(), control_errc::not_a_learner)
          || is(next.error(), control_errc::invalid_argument))
        continue;
      return next.error();
    }
    out.map = std::move(*next);
    ++out.promoted;
  }
  out.map.version = map.version + (out.promoted > 0 ? 1 : 0);
  return out;
}

namespace {

/// Applies `change` to every reported partition that the reporting node
/// still leads at the reported epoch (and `change` accepts), as ONE map
/// change; `promoted` counts them.
template <class Report, class Change>
caf::expected<promotion> amend_led(const partition_map& map,
                                   const std::vector<Report>& reports,
                                   Change change) {
  if (auto err = validate(map))
    return err;
  promotion out{map, 0};
  for (const auto& r : reports) {
    if (r.partition >= out.map.partitions.size())
      continue;
    auto& x = out.map.partitions[r.partition];
    if (x.leader == r.node && x.epoch == r.epoch && change(x))
      ++out.promoted;
  }
  if (out.promoted > 0)
    ++out.map.version;
  if (auto err = validate(out.map))
    return err;
  return out;
}

} // namespace

caf::expected<promotion> settle(const partition_map& map,
                                const std::vector<settled_epoch>& reports) {
  return amend_led(map, reports, [](partition_assignment& x) {
    return !std::exchange(x.settled, true);
  });
}

caf::expected<promotion>
reappoint(const partition_map& map,
          const std::vector<stale_appointment>& reports) {
  return amend_led(map, reports, [](partition_assignment& x) {
    ++x.epoch;
    return true;
  });
}

} // namespace annals::cluster::control
