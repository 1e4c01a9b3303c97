// annals -- event-sourced aggregates on the C++ Actor Framework.
#include "dedupe_cache.hpp"

#include <algorithm>

namespace annals::detail {

std::size_t dedupe_cache::cost(const std::string& skey,
                               const stream_window& w) {
  std::size_t n = 128 + 2 * skey.size(); // map node, LRU node, keys
  for (const auto& a : w.appends)
    n += sizeof(remembered_append) + a.command_id.size();
  return n;
}

void dedupe_cache::trim(stream_window& w) {
  auto first_kept
    = std::find_if(w.appends.begin(), w.appends.end(), [&](const auto& a) {
        return w.head < window_ || a.where.last_revision > w.head - window_;
      });
  for (auto i = w.appends.begin(); i != first_kept; ++i) {
    w.bytes -= sizeof(remembered_append) + i->command_id.size();
    bytes_ -= sizeof(remembered_append) + i->command_id.size();
    --ids_;
  }
  w.appends.erase(w.appends.begin(), first_kept);
}

void dedupe_cache::touch(stream_window& w) {
  lru_.splice(lru_.begin(), lru_, w.lru);
}

void dedupe_cache::erase(
  std::unordered_map<std::string, stream_window>::iterator it) {
  bytes_ -= it->second.bytes;
  ids_ -= it->second.appends.size();
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
  touch(it->second);
  for (const auto& a : it->second.appends)
    if (a.command_id == command_id) {
      *found = a.where;
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
  w.appends = std::move(appends);
  w.lru = lru_.begin();
  ids_ += w.appends.size();
  w.bytes = cost(skey, w);
  bytes_ += w.bytes;
  trim(w);
  shrink();
}

void dedupe_cache::record(const std::string& skey, revision head,
                          std::string_view command_id,
                          const append_result& where) {
  std::lock_guard guard{mtx_};
  auto it = streams_.find(skey);
  if (it == streams_.end())
    return;
  auto& w = it->second;
  w.head = head;
  if (!command_id.empty()) {
    w.appends.push_back({std::string{command_id}, where});
    w.bytes += sizeof(remembered_append) + command_id.size();
    bytes_ += sizeof(remembered_append) + command_id.size();
    ++ids_;
  }
  trim(w);
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
