// annals -- event-sourced aggregates on the C++ Actor Framework.
// Part of the replication core: comparing partition logs by their lineage.
#include "replication/lineage.hpp"

#include <algorithm>

namespace annals::replication {

namespace {

/// The first position of the epoch segment of `lin` that holds `pos`
/// (1 if `pos` lies before the first entry).
position segment_start(const lineage& lin, position pos) noexcept {
  position start = 1;
  for (const auto& entry : lin) {
    if (entry.first > pos) {
      break;
    }
    start = entry.first;
  }
  return start;
}

} // namespace

uint64_t epoch_at(const lineage& lin, position pos) noexcept {
  uint64_t epoch = 0;
  for (const auto& entry : lin) {
    if (entry.first > pos) {
      break;
    }
    epoch = entry.epoch;
  }
  return epoch;
}

uint64_t last_epoch(const lineage& lin) noexcept {
  return lin.empty() ? 0 : lin.back().epoch;
}

position common_prefix(const lineage& a, position end_a, const lineage& b,
                       position end_b) noexcept {
  auto pos = std::min(end_a, end_b);
  while (pos > 0) {
    if (epoch_at(a, pos) == epoch_at(b, pos)) {
      return pos;
    }
    // Both epochs are constant down to the later of the two segment starts
    // and differ there too: skip the whole stretch.
    pos = std::max(segment_start(a, pos), segment_start(b, pos)) - 1;
  }
  return 0;
}

lineage lineage_until(const lineage& lin, position end) {
  lineage out;
  for (const auto& entry : lin) {
    if (entry.first > end) {
      break;
    }
    out.push_back(entry);
  }
  return out;
}

bool at_least_as_up_to_date(const lineage& a, position end_a, const lineage& b,
                            position end_b) noexcept {
  auto ea = last_epoch(a);
  auto eb = last_epoch(b);
  return ea != eb ? ea > eb : end_a >= end_b;
}

} // namespace annals::replication
