// annals -- event-sourced aggregates on the C++ Actor Framework.
// Part of the replication core: group commit for follower writes.
#include "replication/write_stage.hpp"

#include "annals/failpoint.hpp"

#include "replication/journal_log.hpp"

#include <algorithm>
#include <iterator>

namespace annals::replication {

void write_stage::add(journal_log* log, position staged_from,
                      std::vector<append_request>&& appends) {
  auto i = std::find_if(parts_.begin(), parts_.end(),
                        [log](const part& x) { return x.log == log; });
  if (i == parts_.end()) {
    parts_.push_back({log, staged_from, std::move(appends)});
    return;
  }
  std::move(appends.begin(), appends.end(), std::back_inserter(i->appends));
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
  for (auto& x : parts) {
    batch.expected_ends.push_back({x.log->partition(), x.staged_from});
    sizes.push_back(x.appends.size());
    std::move(x.appends.begin(), x.appends.end(),
              std::back_inserter(batch.appends));
  }
  ++commits_;
  ANNALS_CRASH_POINT("annals/replica/before_group_commit");
  auto res = journal_.commit(batch);
  if (!res) {
    for (auto& x : parts) {
      x.log->settle_failed();
      failed_.push_back(x.log->partition());
    }
    return std::move(res.error());
  }
  // Durable, but no replica knows it yet: no acknowledgement has left.
  ANNALS_CRASH_POINT("annals/replica/after_group_commit");
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
