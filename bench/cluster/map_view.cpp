// annals -- event-sourced aggregates on the C++ Actor Framework.
#include "cluster/map_view.hpp"

#include "annals/cluster/ring.hpp"

#include <nlohmann/json.hpp>

namespace cluster_bench {

namespace {

using nlohmann::json;

/// The "node" fields of an array of replica references.
std::optional<std::set<std::string>> node_names(const json& arr) {
  if (!arr.is_array()) {
    return std::nullopt;
  }
  std::set<std::string> out;
  for (const auto& r : arr) {
    auto it = r.find("node");
    if (!r.is_object() || it == r.end() || !it->is_string()) {
      return std::nullopt;
    }
    out.insert(it->get<std::string>());
  }
  return out;
}

} // namespace

std::optional<map_view> parse_map(const std::string& text) {
  auto j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return std::nullopt;
  }
  auto rf = j.find("rf");
  auto members = j.find("members");
  auto partitions = j.find("partitions");
  if (rf == j.end() || !rf->is_number_unsigned() || members == j.end()
      || !members->is_array() || partitions == j.end()
      || !partitions->is_array()) {
    return std::nullopt;
  }
  map_view out;
  out.rf = rf->get<uint32_t>();
  for (const auto& m : *members) {
    auto name = m.find("name");
    auto intent = m.find("intent");
    if (!m.is_object() || name == m.end() || !name->is_string()
        || intent == m.end() || !intent->is_string()) {
      return std::nullopt;
    }
    out.members.insert(name->get<std::string>());
    if (intent->get<std::string>() == "serve") {
      out.serving.insert(name->get<std::string>());
    }
  }
  for (const auto& p : *partitions) {
    if (!p.is_object()) {
      return std::nullopt;
    }
    auto epoch = p.find("epoch");
    auto leader = p.find("leader");
    auto replicas = p.find("replicas");
    auto learners = p.find("learners");
    auto settled = p.find("settled");
    if (epoch == p.end() || !epoch->is_number_unsigned() || leader == p.end()
        || !leader->is_string() || replicas == p.end() || learners == p.end()
        || (settled != p.end() && !settled->is_boolean())) {
      return std::nullopt;
    }
    auto voters = node_names(*replicas);
    auto learning = node_names(*learners);
    if (!voters || !learning) {
      return std::nullopt;
    }
    map_partition x;
    x.epoch = epoch->get<uint64_t>();
    x.leader = leader->get<std::string>();
    x.voters = std::move(*voters);
    x.learners = std::move(*learning);
    // Format 1 has no "settled": its maps were always settled.
    x.settled = settled == p.end() || settled->get<bool>();
    out.partitions.push_back(std::move(x));
  }
  return out;
}

std::optional<map_view> read_map(const etcd_server& etcd) {
  auto kv = etcd.get(map_key);
  if (!kv.exists) {
    return std::nullopt;
  }
  auto out = parse_map(kv.value);
  if (out) {
    out->etcd_version = kv.version;
  }
  return out;
}

bool converged(const map_view& m, const std::set<std::string>& members,
               uint32_t vnodes) {
  if (m.members != members || m.partitions.empty()) {
    return false;
  }
  annals::cluster::ring ring{vnodes};
  for (const auto& n : m.serving) {
    ring.add(n);
  }
  for (uint32_t p = 0; p < m.partitions.size(); ++p) {
    const auto& x = m.partitions[p];
    if (!x.settled || !x.learners.empty()) {
      return false;
    }
    auto target = ring.successors(p, m.rf);
    if (x.voters != std::set<std::string>(target.begin(), target.end())) {
      return false;
    }
  }
  return true;
}

std::vector<uint32_t> moved_partitions(const map_view& a, const map_view& b) {
  std::vector<uint32_t> out;
  auto n = std::min(a.partitions.size(), b.partitions.size());
  for (uint32_t p = 0; p < n; ++p) {
    if (a.partitions[p].voters != b.partitions[p].voters) {
      out.push_back(p);
    }
  }
  return out;
}

std::size_t leaders_moved(const map_view& a, const map_view& b,
                          const std::vector<uint32_t>& ps) {
  std::size_t n = 0;
  for (auto p : ps) {
    if (p < a.partitions.size() && p < b.partitions.size()
        && a.partitions[p].leader != b.partitions[p].leader) {
      ++n;
    }
  }
  return n;
}

} // namespace cluster_bench
