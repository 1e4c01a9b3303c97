// annals -- event-sourced aggregates on the C++ Actor Framework.
// Small helpers for code that reads and writes LMDB tables directly: the
// journal (lmdb_journal*.cpp) and the format-1 reader (format1.cpp).
#pragma once

#include "codec.hpp"

#include <lmdb.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace annals::detail {

inline MDB_val to_val(std::string_view s) {
  return MDB_val{s.size(), const_cast<char*>(s.data())};
}

inline std::string_view to_view(const MDB_val& v) {
  return {static_cast<const char*>(v.mv_data), v.mv_size};
}

inline bool starts_with(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && s.substr(0, prefix.size()) == prefix;
}

inline uint64_t suffix_u64be(std::string_view key) {
  uint64_t x = 0;
  for (std::size_t i = key.size() - 8; i < key.size(); ++i)
    x = (x << 8) | static_cast<unsigned char>(key[i]);
  return x;
}

inline std::string u32be_key(uint32_t x) {
  std::string out;
  byte_writer{out}.u32be(x);
  return out;
}

inline std::string u64be_key(uint64_t x) {
  std::string out;
  byte_writer{out}.u64be(x);
  return out;
}

/// Aborts a transaction unless committed.
struct txn_guard {
  MDB_txn* txn = nullptr;
  txn_guard() = default;
  txn_guard(const txn_guard&) = delete;
  txn_guard& operator=(const txn_guard&) = delete;
  ~txn_guard() {
    if (txn != nullptr)
      mdb_txn_abort(txn);
  }
  int commit() {
    auto rc = mdb_txn_commit(txn);
    txn = nullptr;
    return rc;
  }
};

/// Closes a cursor.
struct cursor_guard {
  MDB_cursor* cur = nullptr;
  cursor_guard() = default;
  cursor_guard(const cursor_guard&) = delete;
  cursor_guard& operator=(const cursor_guard&) = delete;
  ~cursor_guard() {
    if (cur != nullptr)
      mdb_cursor_close(cur);
  }
};

} // namespace annals::detail
