// annals -- event-sourced aggregates on the C++ Actor Framework.
// The journal's unindexed tail: index entries of recent events kept in
// memory until they are written to the durable indexes in bulk.
#pragma once

#include "annals/persistence/stream.hpp"

#include <cstdint>
#include <deque>
#include <string>
#include <unordered_map>
#include <vector>

namespace annals::detail {

/// The log sequence numbers of one stream's (partition's) consecutive
/// revisions (positions) `first`, `first + 1`, ... not yet in its durable
/// index. Never empty while stored in an `index_tail`.
struct tail_run {
  uint64_t first = 0;
  std::vector<uint64_t> seqs;

  uint64_t last() const noexcept {
    return first + seqs.size() - 1;
  }
  bool empty() const noexcept {
    return seqs.empty();
  }
};

/// The index entries of the events after each stream's and partition's
/// durable index end: one run per stream and per partition with such
/// events, and the order in which the runs began (oldest first), so that
/// the writer flushes the runs that have waited longest.
///
/// Not thread-safe: the journal guards it (writer mutates it after a commit
/// under an exclusive lock; readers copy runs under a shared lock).
class index_tail {
public:
  explicit index_tail(uint32_t partitions = 0) : parts_(partitions) {
  }

  /// Records event `seq` = revision `rev` of stream `skey` = position `pos`
  /// of partition `p`. @pre `rev` follows the stream's run (or starts one),
  /// and `pos` the partition's.
  void add(const std::string& skey, revision rev, partition_id p, position pos,
           uint64_t seq);

  /// Only the stream half of `add` (rebuilding: the partition's durable
  /// index may already cover the event, the stream's not). Returns the run.
  tail_run& add_stream(const std::string& skey, revision rev, uint64_t seq);

  /// `add_stream` to a run of this tail found before (`find_stream`),
  /// without looking it up again. @pre `run` is not empty.
  void extend_stream(tail_run& run, revision rev, uint64_t seq);
  void add_partition(partition_id p, position pos, uint64_t seq);

  /// The stream's (partition's) run; nullptr if it has none.
  const tail_run* stream(const std::string& skey) const;
  /// As `stream`, for the writer: the run may then be extended. The
  /// pointer stays valid until the run is erased.
  tail_run* find_stream(const std::string& skey);
  const tail_run* partition(partition_id p) const;

  /// Removes a whole run (it was written to the durable index).
  void erase_stream(const std::string& skey);
  void erase_partition(partition_id p);

  /// Truncation: keeps only the entries up to revision (position)
  /// `keep_through`.
  void cut_stream(const std::string& skey, revision keep_through);
  void cut_partition(partition_id p, position keep_through);

  /// Up to `n` stream keys (partitions) whose runs began earliest, oldest
  /// first, plus as many more as needed to bring the events left below
  /// `max_events`.
  std::vector<std::string> oldest_streams(std::size_t n,
                                          uint64_t max_events) const;
  std::vector<partition_id> oldest_partitions(std::size_t n,
                                              uint64_t max_events) const;

  /// The lowest sequence number of any run but the `skip_streams` oldest
  /// stream runs and `skip_partitions` oldest partition runs (those about to
  /// be flushed, as returned by `oldest_*`); `none` if there is none.
  static constexpr uint64_t none = UINT64_MAX;
  uint64_t oldest_seq(std::size_t skip_streams,
                      std::size_t skip_partitions) const;

  /// Events in stream runs (equal to those in partition runs, except
  /// while rebuilding).
  uint64_t stream_events() const noexcept {
    return stream_events_;
  }
  uint64_t partition_events() const noexcept {
    return partition_events_;
  }
  std::size_t streams() const noexcept {
    return streams_.size();
  }

private:
  struct begun {
    uint64_t seq;
    std::string skey;
  };
  struct begun_part {
    uint64_t seq;
    partition_id p;
  };
  bool live(const begun& b) const;
  bool live(const begun_part& b) const;
  /// Drops stale entries at the front of the queues.
  void trim();

  std::unordered_map<std::string, tail_run> streams_;
  std::vector<tail_run> parts_;
  std::deque<begun> stream_order_;
  std::deque<begun_part> part_order_;
  uint64_t stream_events_ = 0;
  uint64_t partition_events_ = 0;
};

} // namespace annals::detail
