// annals -- event-sourced aggregates on the C++ Actor Framework.
#include "index_tail.hpp"

#include <algorithm>
#include <cassert>

namespace annals::detail {

namespace {

/// A partition run's buffer up to this many entries (8 KiB) is kept when
/// the run is flushed: at most 8 MiB for 1024 partitions.
constexpr std::size_t reused_capacity = 1024;

} // namespace

void index_tail::add(const std::string& skey, revision rev, partition_id p,
                     position pos, uint64_t seq) {
  add_stream(skey, rev, seq);
  add_partition(p, pos, seq);
}

tail_run& index_tail::add_stream(const std::string& skey, revision rev,
                                 uint64_t seq) {
  auto [it, fresh] = streams_.try_emplace(skey);
  auto& run = it->second;
  if (run.empty()) {
    run.first = rev;
    stream_order_.push_back({seq, skey});
  }
  assert(rev == run.first + run.seqs.size());
  run.seqs.push_back(seq);
  ++stream_events_;
  return run;
}

void index_tail::extend_stream(tail_run& run, [[maybe_unused]] revision rev,
                               uint64_t seq) {
  assert(!run.empty() && rev == run.first + run.seqs.size());
  run.seqs.push_back(seq);
  ++stream_events_;
}

void index_tail::add_partition(partition_id p, position pos, uint64_t seq) {
  auto& run = parts_[p];
  if (run.empty()) {
    run.first = pos;
    part_order_.push_back({seq, p});
  }
  assert(pos == run.first + run.seqs.size());
  run.seqs.push_back(seq);
  ++partition_events_;
}

const tail_run* index_tail::stream(const std::string& skey) const {
  auto it = streams_.find(skey);
  return it == streams_.end() ? nullptr : &it->second;
}

tail_run* index_tail::find_stream(const std::string& skey) {
  auto it = streams_.find(skey);
  return it == streams_.end() ? nullptr : &it->second;
}

const tail_run* index_tail::partition(partition_id p) const {
  if (p >= parts_.size() || parts_[p].empty())
    return nullptr;
  return &parts_[p];
}

void index_tail::erase_stream(const std::string& skey) {
  if (auto it = streams_.find(skey); it != streams_.end()) {
    stream_events_ -= it->second.seqs.size();
    streams_.erase(it);
  }
  trim();
}

void index_tail::erase_partition(partition_id p) {
  if (p < parts_.size()) {
    auto& run = parts_[p];
    partition_events_ -= run.seqs.size();
    // Keep a small run's buffer: the partition's next events refill it.
    if (run.seqs.capacity() > reused_capacity)
      run.seqs = {};
    else
      run.seqs.clear();
  }
  trim();
}

void index_tail::cut_stream(const std::string& skey, revision keep_through) {
  auto it = streams_.find(skey);
  if (it == streams_.end())
    return;
  auto& run = it->second;
  if (keep_through < run.first) {
    erase_stream(skey);
    return;
  }
  auto keep = std::min<uint64_t>(run.seqs.size(), keep_through - run.first + 1);
  stream_events_ -= run.seqs.size() - keep;
  run.seqs.resize(keep);
}

void index_tail::cut_partition(partition_id p, position keep_through) {
  if (p >= parts_.size() || parts_[p].empty())
    return;
  auto& run = parts_[p];
  if (keep_through < run.first) {
    erase_partition(p);
    return;
  }
  auto keep = std::min<uint64_t>(run.seqs.size(), keep_through - run.first + 1);
  partition_events_ -= run.seqs.size() - keep;
  run.seqs.resize(keep);
}

bool index_tail::live(const begun& b) const {
  auto it = streams_.find(b.skey);
  return it != streams_.end() && !it->second.empty()
         && it->second.seqs.front() == b.seq;
}

bool index_tail::live(const begun_part& b) const {
  return b.p < parts_.size() && !parts_[b.p].empty()
         && parts_[b.p].seqs.front() == b.seq;
}

void index_tail::trim() {
  while (!stream_order_.empty() && !live(stream_order_.front()))
    stream_order_.pop_front();
  while (!part_order_.empty() && !live(part_order_.front()))
    part_order_.pop_front();
}

std::vector<std::string> index_tail::oldest_streams(std::size_t n,
                                                    uint64_t max_events) const {
  std::vector<std::string> out;
  uint64_t left = stream_events_;
  for (const auto& b : stream_order_) {
    if (out.size() >= n && left <= max_events)
      break;
    if (!live(b))
      continue;
    out.push_back(b.skey);
    left -= streams_.find(b.skey)->second.seqs.size();
  }
  return out;
}

std::vector<partition_id>
index_tail::oldest_partitions(std::size_t n, uint64_t max_events) const {
  std::vector<partition_id> out;
  uint64_t left = partition_events_;
  for (const auto& b : part_order_) {
    if (out.size() >= n && left <= max_events)
      break;
    if (!live(b))
      continue;
    out.push_back(b.p);
    left -= parts_[b.p].seqs.size();
  }
  return out;
}

uint64_t index_tail::oldest_seq(std::size_t skip_streams,
                                std::size_t skip_partitions) const {
  uint64_t out = none;
  for (const auto& b : stream_order_) {
    if (!live(b))
      continue;
    if (skip_streams > 0) {
      --skip_streams;
      continue;
    }
    out = b.seq;
    break;
  }
  for (const auto& b : part_order_) {
    if (!live(b))
      continue;
    if (skip_partitions > 0) {
      --skip_partitions;
      continue;
    }
    out = std::min(out, b.seq);
    break;
  }
  return out;
}

} // namespace annals::detail
