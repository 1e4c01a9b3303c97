// annals -- event-sourced aggregates on the C++ Actor Framework.
#include "control/partition_map.hpp"

#include "annals/cluster/ring.hpp"

#include "control/control_errc.hpp"
#include "control/json_fields.hpp"

#include <algorithm>
#include <set>

namespace annals::cluster::control {

namespace {

using nlohmann::json;

caf::error malformed(std::string what) {
  return make_error(control_errc::malformed_value,
                    "partition map: " + std::move(what));
}

json encode_refs(const std::vector<replica_ref>& refs) {
  auto out = json::array();
  for (const auto& r : refs)
    out.push_back({{"node", r.node}, {"incarnation", r.incarnation}});
  return out;
}

std::optional<std::vector<replica_ref>> decode_refs(const json& arr) {
  if (!arr.is_array())
    return std::nullopt;
  std::vector<replica_ref> out;
  for (const auto& x : arr) {
    if (!detail::has_exactly(x, {"node", "incarnation"}))
      return std::nullopt;
    auto node = detail::string_field(x, "node");
    auto inc = detail::string_field(x, "incarnation");
    if (!node || !inc)
      return std::nullopt;
    out.push_back({std::move(*node), std::move(*inc)});
  }
  return out;
}

/// Format 1 has no `settled` (its maps never changed voters unsettled).
std::optional<partition_assignment> decode_partition(const json& x,
                                                     uint64_t format) {
  bool settled = true;
  if (format == 1) {
    if (!detail::has_exactly(x, {"epoch", "leader", "replicas", "learners"}))
      return std::nullopt;
  } else {
    if (!detail::has_exactly(
          x, {"epoch", "leader", "replicas", "learners", "settled"})
        || !x["settled"].is_boolean())
      return std::nullopt;
    settled = x["settled"].get<bool>();
  }
  auto epoch = detail::uint_field(x, "epoch");
  auto leader = detail::string_field(x, "leader");
  auto replicas = decode_refs(x["replicas"]);
  auto learners = decode_refs(x["learners"]);
  if (!epoch || !leader || !replicas || !learners)
    return std::nullopt;
  return partition_assignment{*epoch, std::move(*leader), std::move(*replicas),
                              std::move(*learners), settled};
}

std::optional<member_info> decode_member(const json& x) {
  if (!detail::has_exactly(x, {"name", "incarnation", "address", "intent"}))
    return std::nullopt;
  auto name = detail::string_field(x, "name");
  auto inc = detail::string_field(x, "incarnation");
  auto addr = detail::string_field(x, "address");
  auto intent = detail::intent_field(x, "intent");
  if (!name || !inc || !addr || !intent)
    return std::nullopt;
  return member_info{std::move(*name), std::move(*inc), std::move(*addr),
                     *intent};
}

caf::error validate_partition(const partition_map& map, size_t p) {
  const auto& x = map.partitions[p];
  auto where = "partition " + std::to_string(p) + ": ";
  if (x.epoch == 0)
    return malformed(where + "epoch 0");
  if (x.replicas.empty())
    return malformed(where + "no voters");
  std::set<std::string> voters;
  for (const auto& r : x.replicas) {
    if (r.incarnation.empty())
      return malformed(where + "empty incarnation");
    if (!voters.insert(r.node).second)
      return malformed(where + "node " + r.node + " is a voter twice");
    if (map.find_member(r.node) == nullptr)
      return malformed(where + "voter " + r.node + " is not a member");
  }
  if (voters.count(x.leader) == 0)
    return malformed(where + "leader '" + x.leader + "' is not a voter");
  std::set<std::string> learners;
  for (const auto& r : x.learners) {
    if (r.incarnation.empty())
      return malformed(where + "empty incarnation");
    if (!learners.insert(r.node).second)
      return malformed(where + "node " + r.node + " is a learner twice");
    if (map.find_member(r.node) == nullptr)
      return malformed(where + "learner " + r.node + " is not a member");
    if (std::find(x.replicas.begin(), x.replicas.end(), r) != x.replicas.end())
      return malformed(where + "learner " + r.node + " is also a voter");
  }
  return {};
}

} // namespace

const char* to_string(member_intent x) noexcept {
  return x == member_intent::leave ? "leave" : "serve";
}

std::vector<std::string> target_replicas(const partition_map& map,
                                         partition_id p, uint32_t vnodes) {
  ring r{vnodes};
  for (const auto& m : map.members)
    if (m.intent == member_intent::serve)
      r.add(m.name);
  return r.successors(p, map.rf);
}

std::vector<std::string> ring_order(const partition_map& map, partition_id p,
                                    uint32_t vnodes) {
  ring r{vnodes};
  for (const auto& m : map.members)
    r.add(m.name);
  return r.successors(p, map.members.size());
}

const member_info*
partition_map::find_member(std::string_view name) const noexcept {
  auto it = std::lower_bound(
    members.begin(), members.end(), name,
    [](const member_info& m, std::string_view n) { return m.name < n; });
  if (it == members.end() || it->name != name)
    return nullptr;
  return &*it;
}

caf::error validate(const partition_map& map) {
  if (map.version == 0)
    return malformed("version 0");
  if (map.rf == 0)
    return malformed("rf 0");
  for (size_t i = 0; i < map.members.size(); ++i) {
    if (map.members[i].name.empty())
      return malformed("a member without a name");
    if (i > 0 && !(map.members[i - 1].name < map.members[i].name))
      return malformed("members not sorted by name or not unique at "
                       + map.members[i].name);
  }
  if (map.partitions.empty())
    return malformed("no partitions");
  for (size_t p = 0; p < map.partitions.size(); ++p)
    if (auto err = validate_partition(map, p))
      return err;
  return {};
}

std::string encode(const partition_map& map) {
  auto members = json::array();
  for (const auto& m : map.members)
    members.push_back({{"name", m.name},
                       {"incarnation", m.incarnation},
                       {"address", m.address},
                       {"intent", to_string(m.intent)}});
  auto partitions = json::array();
  for (const auto& x : map.partitions)
    partitions.push_back({{"epoch", x.epoch},
                          {"leader", x.leader},
                          {"replicas", encode_refs(x.replicas)},
                          {"learners", encode_refs(x.learners)},
                          {"settled", x.settled}});
  json out{{"format", partition_map_format},
           {"version", map.version},
           {"rf", map.rf},
           {"members", std::move(members)},
           {"partitions", std::move(partitions)}};
  return out.dump();
}

caf::expected<partition_map> decode_partition_map(std::string_view text) {
  auto doc = detail::parse_json(text);
  if (doc.is_discarded())
    return malformed("not JSON");
  if (!doc.is_object())
    return malformed("not a JSON object");
  auto format = detail::uint_field(doc, "format");
  if (!format)
    return malformed("no format number");
  if (*format != partition_map_format && *format != 1)
    return make_error(control_errc::unknown_format,
                      "partition map: format " + std::to_string(*format)
                        + " (this build reads "
                        + std::to_string(partition_map_format) + ")");
  if (!detail::has_exactly(
        doc, {"format", "version", "rf", "members", "partitions"}))
    return malformed("fields are not format " + std::to_string(*format) + "'s");
  partition_map out;
  auto version = detail::uint_field(doc, "version");
  auto rf = detail::uint_field(doc, "rf");
  if (!version || !rf || *rf > UINT32_MAX)
    return malformed("version or rf is not a number");
  out.version = *version;
  out.rf = static_cast<uint32_t>(*rf);
  const auto& members = doc["members"];
  const auto& partitions = doc["partitions"];
  if (!members.is_array() || !partitions.is_array())
    return malformed("members or partitions is not an array");
  for (const auto& m : members) {
    auto x = decode_member(m);
    if (!x)
      return malformed("a member is not {name, incarnation, address, intent}");
    out.members.push_back(std::move(*x));
  }
  for (const auto& p : partitions) {
    auto x = decode_partition(p, *format);
    if (!x)
      return malformed("partition " + std::to_string(out.partitions.size())
                       + (*format == 1
                            ? " is not {epoch, leader, replicas, learners}"
                            : " is not {epoch, leader, replicas, learners, "
                              "settled}"));
    out.partitions.push_back(std::move(*x));
  }
  if (auto err = validate(out))
    return err;
  return out;
}

} // namespace annals::cluster::control
