// annals -- event-sourced aggregates on the C++ Actor Framework.
#include "dedupe_cache.hpp"

#include <algorithm>
#include <functional>

namespace annals::detail {

uint64_t dedupe_cache::hash_of(std::string_view command_id) {
  return std::hash<std::string_view>{}(command_id);
}

std::size_t dedupe_cache::cost(const std::string& skey,
                               const stream_window& w) {
  // Map node, LRU node, both keys, the vector's capacity.
  return 160 + 2 * skey.size() + w.hashes.capacity() * sizeof(uint64_t)
         + w.where.capacity() * sizeof(placement);
}

void dedupe_cache::trim(stream_window& w) {
  while (w.start < w.hashes.size()) {
    const auto& a = w.where[w.start];
    if (w.head < window_ || a.first_revision + a.count - 1 > w.head - window_)
      break;
    ++w.start;
    --ids_;
  }
  // Drop the gone prefix once it is as long as what is left (amortised
  // O(1) per append, instead of a shift per append).
  if (w.start >= 32 && 2 * w.start >= w.hashes.size()) {
    auto n = static_cast<std::ptrdiff_t>(w.start);
    w.hashes.erase(w.hashes.begin(), w.hashes.begin() + n);
    w.where.erase(w.where.begin(), w.where.begin() + n);
    w.start = 0;
  }
}

void dedupe_cache::touch(stream_window& w) {
  lru_.splice(lru_.begin(), lru_, w.lru);
}

void dedupe_cache::erase(
  std::unordered_map<std::string, stream_window>::iterator it) {
  bytes_ -= it->second.bytes;
  ids_ -= it->second.live();
  lru_.erase(it->second.lru);
  streams_.erase(it);
}

void dedupe_cache::shrink() {
  while (bytes_ > max_bytes_ && !lru_.empty())
    erase(streams_.find(lru_.back()));
}

bool dedupe_cache::find(const std::string& skey, std::string_view command_id,
                        std::optional<append_result>* found) {
  std::lock_guard guard{mtx_};
  auto it = streams_.find(skey);
  if (it == streams_.end())
    return false;
  auto& w = it->second;
  touch(w);
  auto h = hash_of(command_id);
  for (auto i = w.start; i < w.hashes.size(); ++i)
    if (w.hashes[i] == h) {
      const auto& a = w.where[i];
      *found = append_result{w.partition,
                             a.first_revision,
                             a.first_revision + a.count - 1,
                             a.first_position,
                             a.first_position + a.count - 1,
                             true};
      break;
    }
  return true;
}

void dedupe_cache::load(const std::string& skey, revision head,
                        std::vector<remembered_append> appends) {
  if (window_ == 0)
    return;
  std::lock_guard guard{mtx_};
  if (auto it = streams_.find(skey); it != streams_.end())
    erase(it);
  lru_.push_front(skey);
  auto& w = streams_[skey];
  w.head = head;
  w.hashes.reserve(appends.size());
  w.where.reserve(appends.size());
  for (const auto& a : appends) {
    w.partition = a.where.partition;
    w.push(hash_of(a.command_id),
           {a.where.first_revision, a.where.first_position,
            static_cast<uint32_t>(a.where.last_revision - a.where.first_revision
                                  + 1)});
  }
  w.lru = lru_.begin();
  ids_ += w.live();
  trim(w);
  w.bytes = cost(skey, w);
  bytes_ += w.bytes;
  shrink();
}

void dedupe_cache::record(const std::string& skey, revision head,
                          std::string_view command_id,
                          const append_result& where) {
  std::lock_guard guard{mtx_};
  if (streams_.empty())
    return;
  auto it = streams_.find(skey);
  if (it == streams_.end())
    return;
  auto& w = it->second;
  w.head = head;
  if (!command_id.empty()) {
    w.partition = where.partition;
    w.push(
      hash_of(command_id),
      {where.first_revision, where.first_position,
       static_cast<uint32_t>(where.last_revision - where.first_revision + 1)});
    ++ids_;
  }
  trim(w);
  bytes_ -= w.bytes;
  w.bytes = cost(skey, w);
  bytes_ += w.bytes;
  touch(w);
  shrink();
}

void dedupe_cache::drop(const std::string& skey) {
  std::lock_guard guard{mtx_};
  if (auto it = streams_.find(skey); it != streams_.end())
    erase(it);
}

uint64_t dedupe_cache::ids() const {
  std::lock_guard guard{mtx_};
  return ids_;
}

std::size_t dedupe_cache::bytes() const {
  std::lock_guard guard{mtx_};
  return bytes_;
}

} // namespace annals::detail
