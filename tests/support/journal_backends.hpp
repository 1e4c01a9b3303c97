// annals -- test support: the journal backends the conformance suite runs on.
#pragma once

#include "annals/persistence/journal.hpp"

#include "temp_dir.hpp"

#include <memory>
#include <optional>
#include <stdexcept>

namespace annals::testing {

/// The number of events in all partitions of `j`, if every partition reads
/// back with positions 1, 2, 3, ... (none if a read fails or has a gap).
inline std::optional<uint64_t> gap_free_partition_events(const journal& j) {
  uint64_t total = 0;
  for (partition_id p = 0; p < j.partition_count(); ++p) {
    auto events = j.read_partition(p, 1);
    if (!events)
      return std::nullopt;
    for (std::size_t i = 0; i < events->size(); ++i)
      if ((*events)[i].pos != i + 1)
        return std::nullopt;
    total += events->size();
  }
  return total;
}

/// An append of one event of type "t" with payload `body` to `s`,
/// optionally with command id `cmd`.
inline append_request one(stream_id s, std::string body, std::string cmd = {}) {
  append_request r;
  r.stream = std::move(s);
  r.command_id = std::move(cmd);
  event_data e;
  e.type = "t";
  e.payload = to_bytes(body);
  r.events.push_back(std::move(e));
  return r;
}

/// A journal in a fresh temp directory; `reopen()` closes and opens it again.
struct lmdb_backend {
  static constexpr const char* name = "lmdb";
  explicit lmdb_backend(journal_options opts = default_options())
    : opts_(opts) {
    reopen();
  }
  static journal_options default_options() {
    journal_options opts;
    opts.sync = durability::unsafe_no_sync; // tests check logic, not fsync
    opts.initial_map_bytes = uint64_t{16} << 20;
    return opts;
  }
  journal& operator*() {
    return *j_;
  }
  journal* operator->() {
    return j_.get();
  }
  void reopen() {
    j_.reset();
    auto j = open_lmdb_journal(dir_.path(), opts_);
    if (!j)
      throw std::runtime_error(describe(j.error()));
    j_ = std::move(*j);
  }
  const std::string& dir() const {
    return dir_.path();
  }

private:
  journal_options opts_;
  temp_dir dir_;
  std::unique_ptr<journal> j_;
};

/// An in-memory journal; `reopen()` keeps it (memory survives "restarts").
struct memory_backend {
  static constexpr const char* name = "memory";
  explicit memory_backend(journal_options opts = {})
    : j_(make_memory_journal(opts)) {
  }
  journal& operator*() {
    return *j_;
  }
  journal* operator->() {
    return j_.get();
  }
  void reopen() {
  }

private:
  std::unique_ptr<journal> j_;
};

} // namespace annals::testing
