// annals -- event-sourced aggregates on the C++ Actor Framework.
// Part of the replication core: what a replica needs of its partition log.
#include "replication/replica_log.hpp"

#include "annals/persistence/errc.hpp"

#include <algorithm>

namespace annals::replication {

replica_log::~replica_log() = default;

memory_replica_log::memory_replica_log(std::string incarnation)
  : incarnation_(std::move(incarnation)) {
}

position memory_replica_log::end() const noexcept {
  return entries_.size();
}

position memory_replica_log::durable_end() const noexcept {
  return durable_end_;
}

uint64_t memory_replica_log::fence() const noexcept {
  return fence_;
}

const lineage& memory_replica_log::entries_lineage() const noexcept {
  return lineage_;
}

const std::string& memory_replica_log::incarnation() const noexcept {
  return incarnation_;
}

caf::error memory_replica_log::raise_fence(uint64_t epoch) {
  fence_ = std::max(fence_, epoch);
  durable_end_ = end();
  return {};
}

caf::error memory_replica_log::append(position expected_end,
                                      uint64_t writer_epoch,
                                      const std::vector<log_entry>& entries) {
  if (writer_epoch != 0 && writer_epoch < fence_) {
    return make_error(journal_errc::stale_epoch);
  }
  if (expected_end != end()) {
    return make_error(journal_errc::wrong_expected_position);
  }
  if (entries.empty() || !entries.back().ends_append) {
    return make_error(journal_errc::invalid_argument);
  }
  for (const auto& entry : entries) {
    entries_.push_back(entry);
    if (entry.epoch > last_epoch(lineage_)) {
      lineage_.push_back({entry.epoch, end()});
    }
  }
  return {};
}

caf::error memory_replica_log::append_marker(position expected_end,
                                             uint64_t epoch) {
  return append(expected_end, epoch, {log_entry{epoch, {}, true}});
}

caf::error memory_replica_log::truncate(position after) {
  cut(after);
  durable_end_ = end();
  return {};
}

caf::expected<std::vector<log_entry>>
memory_replica_log::read(position from, position to) const {
  std::vector<log_entry> out;
  to = std::min(to, end());
  for (auto pos = std::max<position>(from, 1); pos <= to; ++pos) {
    out.push_back(at(pos));
  }
  return out;
}

caf::error memory_replica_log::sync() {
  durable_end_ = end();
  return {};
}

void memory_replica_log::crash() {
  cut(durable_end_);
}

void memory_replica_log::wipe(std::string new_incarnation) {
  incarnation_ = std::move(new_incarnation);
  entries_.clear();
  lineage_.clear();
  durable_end_ = 0;
  fence_ = 0;
}

void memory_replica_log::cut(position after) {
  if (after >= end()) {
    return;
  }
  entries_.resize(after);
  while (!lineage_.empty() && lineage_.back().first > after) {
    lineage_.pop_back();
  }
  durable_end_ = std::min(durable_end_, after);
}

} // namespace annals::replication
