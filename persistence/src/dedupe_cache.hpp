// annals -- event-sourced aggregates on the C++ Actor Framework.
// The LMDB journal's memory of recent command ids, per stream.
#pragma once

#include "annals/persistence/batch.hpp"

#include <cstdint>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace annals::detail {

/// One append with a command id, as the dedupe window remembers it.
struct remembered_append {
  std::string command_id;
  append_result where;
};

/// For each cached stream: its head revision and the appends with a command
/// id whose last event is among its last `window` events, oldest first,
/// each kept as 32 bytes (a 64-bit hash of its command id and where it
/// went). A hash match is a candidate: callers confirm it against the
/// record (`find` reports candidates, never a verdict).
/// A stream that is not cached is read from the log by the caller. Bounded
/// by `max_bytes` (least recently used streams are dropped).
///
/// The cache holds committed state only: the writer loads a stream's window
/// from committed data and records appends after their commit.
///
/// Thread-safe (one internal mutex): the writer updates it, readers
/// (`journal::find_command`) look up.
class dedupe_cache {
public:
  dedupe_cache(uint32_t window, std::size_t max_bytes)
    : window_(window), max_bytes_(max_bytes) {
  }

  /// Whether the stream is cached; if so and an append in its window has
  /// `command_id`'s hash, `*found` is set to where it went (to be confirmed).
  bool find(const std::string& skey, std::string_view command_id,
            std::optional<append_result>* found);

  /// Caches a stream's window as read from the log (replacing any).
  void load(const std::string& skey, revision head,
            std::vector<remembered_append> appends);

  /// A committed append of `n` events ending at `head` (with `command_id`,
  /// or none). Updates cached streams only.
  void record(const std::string& skey, revision head,
              std::string_view command_id, const append_result& where);

  /// Forgets a stream (its log changed under it: truncation).
  void drop(const std::string& skey);

  /// Command ids held, and bytes used (approximately).
  uint64_t ids() const;
  std::size_t bytes() const;

private:
  /// Where an append with a command id went (its hash is kept apart, so
  /// that a lookup scans 8 bytes per append).
  struct placement {
    revision first_revision;
    position first_position;
    uint32_t count;
  };
  static uint64_t hash_of(std::string_view command_id);
  /// Appends before `start` have left the window (dropped in bulk later).
  struct stream_window {
    revision head = 0;
    partition_id partition = 0;
    std::vector<uint64_t> hashes; ///< oldest first
    std::vector<placement> where; ///< parallel to `hashes`
    std::size_t start = 0;
    std::list<std::string>::iterator lru;
    std::size_t bytes = 0;
    std::size_t live() const noexcept {
      return hashes.size() - start;
    }
    void push(uint64_t hash, placement at) {
      hashes.push_back(hash);
      where.push_back(at);
    }
  };
  static std::size_t cost(const std::string& skey, const stream_window& w);
  void trim(stream_window& w);
  void touch(stream_window& w);
  void shrink();
  void erase(std::unordered_map<std::string, stream_window>::iterator it);

  uint32_t window_;
  std::size_t max_bytes_;
  mutable std::mutex mtx_;
  std::unordered_map<std::string, stream_window> streams_;
  std::list<std::string> lru_; ///< most recently used first
  std::size_t bytes_ = 0;
  uint64_t ids_ = 0;
};

} // namespace annals::detail
