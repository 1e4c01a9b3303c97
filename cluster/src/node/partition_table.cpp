// annals -- event-sourced aggregates on the C++ Actor Framework.
#include "node/partition_table.hpp"

#include <algorithm>
#include <cstdlib>

namespace annals::cluster::detail {

const char* to_string(phase x) noexcept {
  switch (x) {
  case phase::foreign:
    return "foreign";
  case phase::appointed:
    return "appointed";
  case phase::serving:
    return "serving";
  }
  return "?";
}

partition_table::partition_table(std::string self, uint32_t partitions)
  : self_(std::move(self)), leader_(partitions), phase_(partitions),
    serving_(partitions, 0) {
}

void partition_table::serve_all(member self, std::vector<uint64_t> epochs) {
  membership_.version = 1;
  membership_.members = {std::move(self)};
  membership_.epochs = std::move(epochs);
  membership_.epochs.resize(size(), 1);
  std::fill(leader_.begin(), leader_.end(), self_);
  std::fill(phase_.begin(), phase_.end(), phase::serving);
  serving_ = membership_.epochs;
}

namespace {

member to_member(const control::member_info& m) {
  member out{m.name, m.address, 0};
  auto colon = m.address.rfind(':');
  if (colon != std::string::npos) {
    out.host = m.address.substr(0, colon);
    auto port = std::strtoul(m.address.c_str() + colon + 1, nullptr, 10);
    out.port = port <= 65535 ? static_cast<uint16_t>(port) : 0;
  }
  return out;
}

} // namespace

std::vector<partition_id>
partition_table::apply(const control::partition_map& map) {
  std::vector<partition_id> gone;
  view v;
  v.version = map.version;
  for (const auto& m : map.members)
    v.members.push_back(to_member(m));
  for (uint32_t p = 0; p < size(); ++p) {
    const auto& a = map.partitions[p];
    v.epochs.push_back(a.epoch);
    leader_[p] = a.leader;
    auto before = phase_[p];
    if (a.leader != self_)
      phase_[p] = phase::foreign;
    else if (serving_[p] == a.epoch)
      phase_[p] = phase::serving;
    else
      phase_[p] = phase::appointed;
    if (before != phase::foreign && phase_[p] == phase::foreign)
      gone.push_back(p);
  }
  membership_ = std::move(v);
  return gone;
}

void partition_table::update_member(const member& m) {
  for (auto& x : membership_.members)
    if (x.name == m.name)
      x = m;
}

bool partition_table::serving(partition_id p, uint64_t epoch) {
  if (p >= size())
    return false;
  serving_[p] = epoch;
  if (leader_[p] != self_ || membership_.epochs.size() <= p
      || membership_.epochs[p] != epoch)
    return false;
  phase_[p] = phase::serving;
  return true;
}

void partition_table::lost(partition_id p, uint64_t epoch) {
  if (p >= size() || serving_[p] != epoch)
    return;
  serving_[p] = 0;
  if (phase_[p] == phase::serving)
    phase_[p] = leader_[p] == self_ ? phase::appointed : phase::foreign;
}

bool partition_table::settled() const noexcept {
  if (empty())
    return false;
  for (uint32_t p = 0; p < size(); ++p)
    if (leader_[p] == self_ && phase_[p] != phase::serving)
      return false;
  return true;
}

uint32_t partition_table::count(phase x) const noexcept {
  return static_cast<uint32_t>(std::count(phase_.begin(), phase_.end(), x));
}

} // namespace annals::cluster::detail
