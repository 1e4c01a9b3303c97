// annals -- event-sourced aggregates on the C++ Actor Framework.
// The LMDB journal: truncating a partition's suffix (see lmdb_journal.hpp).
#include "lmdb_journal.hpp"

#include <algorithm>
#include <cerrno>
#include <map>
#include <set>

namespace annals::detail {

// -- truncation ---------------------------------------------------------------

lmdb_failure lmdb_journal::cut_index(MDB_txn* txn, MDB_dbi dbi,
                                     std::string_view prefix, uint64_t keep) {
  cursor_guard cur;
  if (auto rc = mdb_cursor_open(txn, dbi, &cur.cur); rc != 0)
    return {rc, "open cursor"};
  std::string probe{prefix};
  byte_writer{probe}.u64be(keep + 1);
  MDB_val k = to_val(probe), v;
  auto rc = mdb_cursor_get(cur.cur, &k, &v, MDB_SET_RANGE);
  std::vector<uint64_t> seqs;
  std::optional<std::pair<uint64_t, std::vector<uint64_t>>> shortened;
  while (rc == 0) {
    auto key = to_view(k);
    if (key.size() != prefix.size() + 8 || !starts_with(key, prefix))
      break;
    uint64_t first = 0;
    if (!decode_index_entry(to_view(v), first, seqs))
      return {MDB_CORRUPTED, "decode an index entry"};
    if (first <= keep)
      shortened.emplace(
        first,
        std::vector<uint64_t>(seqs.begin(), seqs.begin() + (keep - first + 1)));
    if ((rc = mdb_cursor_del(cur.cur, 0)) != 0)
      return {rc, "delete an index entry"};
    rc = mdb_cursor_get(cur.cur, &k, &v, MDB_GET_CURRENT);
  }
  if (rc != 0 && rc != MDB_NOTFOUND && rc != EINVAL)
    return {rc, "cut an index"};
  if (shortened) {
    tail_run run{shortened->first, std::move(shortened->second)};
    return put_run(txn, dbi, std::string{prefix}, run, scratch_);
  }
  return {};
}

caf::expected<uint64_t> lmdb_journal::truncate_partition(partition_id p,
                                                         position after) {
  if (mode_ == access::read_only)
    return make_error(journal_errc::read_only,
                      "journal in " + dir_
                        + " is open read-only; nothing was truncated");
  if (p >= partitions_)
    return make_error(journal_errc::invalid_argument,
                      "partition " + std::to_string(p) + " out of range");
  std::lock_guard guard{write_mtx_};
  if (failed_)
    return make_error(journal_errc::failed,
                      "journal in " + dir_
                        + " refuses writes after an earlier failure: "
                        + describe(failure_));
  if (after >= part_end_[p])
    return uint64_t{0};
  uint64_t removed = 0;
  std::map<std::string, revision> stream_ends; // stream key -> new end
  uint64_t lineage_last = 0;
  auto attempt = [&](MDB_txn* txn) -> lmdb_failure {
    removed = 0;
    stream_ends.clear();
    lineage_last = 0;
    auto prefix = u32be_key(p);
    // The sequence numbers of positions after `after`: durable, then tail.
    std::vector<uint64_t> doomed;
    {
      cursor_guard idx;
      if (auto rc = mdb_cursor_open(txn, parts_, &idx.cur); rc != 0)
        return {rc, "open cursor"};
      auto probe = log_key(p, after + 1);
      MDB_val k = to_val(probe), v;
      auto rc = mdb_cursor_get(idx.cur, &k, &v, MDB_SET_RANGE);
      std::vector<uint64_t> seqs;
      while (rc == 0) {
        auto key = to_view(k);
        if (key.size() != 12 || !starts_with(key, prefix))
          break;
        uint64_t first = 0;
        if (!decode_index_entry(to_view(v), first, seqs))
          return {MDB_CORRUPTED, "decode a partition index entry"};
        for (std::size_t i = 0; i < seqs.size(); ++i)
          if (first + i > after)
            doomed.push_back(seqs[i]);
        rc = mdb_cursor_get(idx.cur, &k, &v, MDB_NEXT);
      }
      if (rc != 0 && rc != MDB_NOTFOUND)
        return {rc, "read the partition index"};
    }
    if (auto* run = tail_.partition(p))
      for (std::size_t i = 0; i < run->seqs.size(); ++i)
        if (run->first + i > after)
          doomed.push_back(run->seqs[i]);
    std::sort(doomed.begin(), doomed.end());
    doomed.erase(std::unique(doomed.begin(), doomed.end()), doomed.end());
    // Delete the events, noting their streams and command ids.
    {
      cursor_guard log;
      if (auto rc = mdb_cursor_open(txn, log_, &log.cur); rc != 0)
        return {rc, "open cursor"};
      event_view ev;
      for (auto seq : doomed) {
        auto sk = u64be_key(seq);
        MDB_val k = to_val(sk), v;
        auto rc = mdb_cursor_get(log.cur, &k, &v, MDB_SET_KEY);
        if (rc == MDB_NOTFOUND)
          continue;
        if (rc != 0)
          return {rc, "read the log"};
        if (decode_record_view(v.mv_data, v.mv_size, ev) != record_fault::none
            || ev.partition != p || ev.pos <= after)
          return {MDB_CORRUPTED, "log sequence " + std::to_string(seq)
                                   + " is not partition " + std::to_string(p)
                                   + "'s suffix"};
        auto skey = stream_key_of(ev);
        auto [it, fresh] = stream_ends.try_emplace(skey, ev.rev - 1);
        it->second = std::min(it->second, ev.rev - 1);
        if ((rc = mdb_cursor_del(log.cur, 0)) != 0)
          return {rc, "delete from the log"};
        ++removed;
      }
    }
    if (auto f = cut_index(txn, parts_, prefix, after); f.rc != 0)
      return f;
    for (const auto& [skey, end] : stream_ends) {
      if (auto f = cut_index(txn, streams_, skey, end); f.rc != 0)
        return f;
      // Snapshots beyond the stream's new end.
      cursor_guard cur;
      if (auto rc = mdb_cursor_open(txn, snapshots_, &cur.cur); rc != 0)
        return {rc, "open cursor"};
      auto probe = stream_rev_key(skey, end + 1);
      MDB_val k = to_val(probe), v;
      auto rc = mdb_cursor_get(cur.cur, &k, &v, MDB_SET_RANGE);
      while (rc == 0) {
        auto key = to_view(k);
        if (key.size() != skey.size() + 8 || !starts_with(key, skey))
          break;
        if ((rc = mdb_cursor_del(cur.cur, 0)) != 0)
          return {rc, "delete a snapshot"};
        rc = mdb_cursor_get(cur.cur, &k, &v, MDB_GET_CURRENT);
      }
      if (rc != 0 && rc != MDB_NOTFOUND && rc != EINVAL)
        return {rc, "scan snapshots"};
    }
    // Checkpoints of p beyond `after` come down to it.
    {
      cursor_guard cur;
      if (auto rc = mdb_cursor_open(txn, checkpoints_, &cur.cur); rc != 0)
        return {rc, "open cursor"};
      MDB_val k, v;
      auto rc = mdb_cursor_get(cur.cur, &k, &v, MDB_FIRST);
      std::string lowered;
      byte_writer{lowered}.u64le(after);
      while (rc == 0) {
        auto key = to_view(k);
        byte_reader vr{v.mv_data, v.mv_size};
        auto pos = vr.u64le();
        partition_id kp = 0;
        if (key.size() >= 4)
          kp = byte_reader{key.data() + key.size() - 4, 4}.u32be();
        if (key.size() >= 4 && kp == p && vr.ok() && pos > after) {
          MDB_val nv = to_val(lowered);
          if ((rc = mdb_cursor_put(cur.cur, &k, &nv, MDB_CURRENT)) != 0)
            return {rc, "lower a checkpoint"};
        }
        rc = mdb_cursor_get(cur.cur, &k, &v, MDB_NEXT);
      }
      if (rc != MDB_NOTFOUND)
        return {rc, "scan checkpoints"};
    }
    // Lineage entries that began after `after`.
    {
      cursor_guard cur;
      if (auto rc = mdb_cursor_open(txn, lineage_, &cur.cur); rc != 0)
        return {rc, "open cursor"};
      MDB_val k = to_val(prefix), v;
      auto rc = mdb_cursor_get(cur.cur, &k, &v, MDB_SET_RANGE);
      while (rc == 0) {
        auto key = to_view(k);
        if (key.size() != 12 || !starts_with(key, prefix))
          break;
        byte_reader vr{v.mv_data, v.mv_size};
        auto first = vr.u64le();
        if (vr.ok() && first > after) {
          if ((rc = mdb_cursor_del(cur.cur, 0)) != 0)
            return {rc, "delete a lineage entry"};
          rc = mdb_cursor_get(cur.cur, &k, &v, MDB_GET_CURRENT);
          continue;
        }
        lineage_last = suffix_u64be(key);
        rc = mdb_cursor_get(cur.cur, &k, &v, MDB_NEXT);
      }
      if (rc != 0 && rc != MDB_NOTFOUND && rc != EINVAL)
        return {rc, "scan lineage"};
    }
    ANNALS_CRASH_POINT("annals/journal/truncate");
    return {};
  };
  if (auto err = write(attempt))
    return err;
  std::unique_lock tail_guard{tail_mtx_};
  tail_.cut_partition(p, after);
  for (const auto& [skey, end] : stream_ends) {
    tail_.cut_stream(skey, end);
    dedupe_.drop(skey); // its window is read again from the log
  }
  part_end_[p] = after;
  lineage_last_[p] = lineage_last;
  ++commits_;
  return removed;
}

} // namespace annals::detail
