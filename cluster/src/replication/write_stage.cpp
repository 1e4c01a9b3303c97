// annals -- event-sourced aggregates on the C++ Actor Framework.
// Part of the replication core: group commit for follower writes.
#include "replication/write_stage.hpp"

#include "annals/failpoint.hpp"

#include "replication/journal_log.hpp"

#include <algorithm>
#include <iterator>

namespace annals::replication {

write_stage::part& write_stage::part_of(journal_log* log,
                                        position staged_from) {
  auto i = std::find_if(parts_.begin(), parts_.end(),
                        [log](const part& x) { return x.log == log; });
  if (i != parts_.end()) {
    return *i;
  }
  auto& x = parts_.emplace_back();
  x.log = log;
  x.staged_from = staged_from;
  return x;
}

void write_stage::add(journal_log* log, position staged_from,
                      std::vector<append_request>&& appends, bool marker) {
  auto& x = part_of(log, staged_from);
  x.marker = x.marker || marker;
  std::move(appends.begin(), appends.end(), std::back_inserter(x.appends));
}

void write_stage::add_fence(journal_log* log, position staged_from,
                            uint64_t epoch) {
  auto& x = part_of(log, staged_from);
  x.fence = std::max(x.fence, epoch);
}

void write_stage::forget(const journal_log* log) {
  std::erase_if(parts_, [log](const part& x) { return x.log == log; });
}

caf::error write_stage::flush() {
  if (parts_.empty()) {
    return {};
  }
  auto parts = std::exchange(parts_, {});
  write_batch batch;
  std::vector<std::size_t> sizes;
  bool markers = false;
  for (auto& x : parts) {
    markers = markers || x.marker;
    batch.expected_ends.push_back({x.log->partition(), x.staged_from});
    sizes.push_back(x.appends.size());
    std::move(x.appends.begin(), x.appends.end(),
              std::back_inserter(batch.appends));
    if (x.fence != 0) {
      batch.fences.push_back({x.log->partition(), x.fence});
    }
  }
  ++commits_;
  ANNALS_CRASH_POINT("annals/replica/before_group_commit");
  ANNALS_CRASH_POINT_IF(!batch.fences.empty(), "annals/replica/before_fence");
  auto res = journal_.commit(batch);
  if (!res) {
    for (auto& x : parts) {
      x.log->settle_failed();
      failed_.push_back(x.log->partition());
    }
    return std::move(res.error());
  }
  // Durable, but no replica knows it yet: no acknowledgement or fence reply
  // has left, no marked epoch serves.
  ANNALS_CRASH_POINT("annals/replica/after_group_commit");
  ANNALS_CRASH_POINT_IF(!batch.fences.empty(), "annals/replica/after_fence");
  ANNALS_CRASH_POINT_IF(markers, "annals/replica/after_marker");
  std::size_t at = 0;
  for (std::size_t k = 0; k < parts.size(); ++k) {
    std::vector<caf::expected<append_result>> results;
    for (std::size_t n = 0; n < sizes[k] && at < res->appends.size(); ++n) {
      results.push_back(std::move(res->appends[at++]));
    }
    if (parts[k].log->settle(parts[k].staged_from, results)) {
      failed_.push_back(parts[k].log->partition());
    }
  }
  return {};
}

} // namespace annals::replication
