// annals -- event-sourced aggregates on the C++ Actor Framework.
#include "annals/cluster/ring.hpp"

#include <algorithm>
#include <stdexcept>

namespace annals::cluster {

uint64_t ring_hash(std::string_view bytes) noexcept {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  // splitmix64 finalizer
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ULL;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebULL;
  h ^= h >> 31;
  return h;
}

ring::ring(uint32_t vnodes) : vnodes_(std::max<uint32_t>(1, vnodes)) {
}

bool ring::contains(const std::string& node) const noexcept {
  return std::binary_search(members_.begin(), members_.end(), node);
}

void ring::add(const std::string& node) {
  auto it = std::lower_bound(members_.begin(), members_.end(), node);
  if (it != members_.end() && *it == node)
    return;
  members_.insert(it, node);
  rebuild();
}

void ring::remove(const std::string& node) {
  auto it = std::lower_bound(members_.begin(), members_.end(), node);
  if (it == members_.end() || *it != node)
    return;
  members_.erase(it);
  rebuild();
}

void ring::rebuild() {
  points_.clear();
  points_.reserve(members_.size() * vnodes_);
  for (uint32_t m = 0; m < members_.size(); ++m)
    for (uint32_t i = 0; i < vnodes_; ++i)
      points_.emplace_back(ring_hash(members_[m] + "#" + std::to_string(i)), m);
  // Ties (astronomically rare) resolve by member name order: deterministic.
  std::sort(points_.begin(), points_.end());
}

const std::string& ring::owner(partition_id p) const {
  if (points_.empty())
    throw std::logic_error("annals::cluster::ring::owner on an empty ring");
  auto h = ring_hash("partition/" + std::to_string(p));
  auto it = std::lower_bound(points_.begin(), points_.end(),
                             std::make_pair(h, uint32_t{0}));
  if (it == points_.end())
    it = points_.begin();
  return members_[it->second];
}

std::vector<std::string> ring::owners(uint32_t partition_count) const {
  std::vector<std::string> out;
  out.reserve(partition_count);
  for (partition_id p = 0; p < partition_count; ++p)
    out.push_back(owner(p));
  return out;
}

std::vector<std::string> ring::successors(partition_id p, size_t n) const {
  std::vector<std::string> out;
  n = std::min(n, members_.size());
  if (n == 0)
    return out;
  out.reserve(n);
  std::vector<bool> taken(members_.size(), false);
  auto h = ring_hash("partition/" + std::to_string(p));
  auto start = std::lower_bound(points_.begin(), points_.end(),
                                std::make_pair(h, uint32_t{0}));
  auto first = static_cast<size_t>(start - points_.begin());
  for (size_t i = 0; i < points_.size() && out.size() < n; ++i) {
    auto m = points_[(first + i) % points_.size()].second;
    if (!taken[m]) {
      taken[m] = true;
      out.push_back(members_[m]);
    }
  }
  return out;
}

} // namespace annals::cluster
