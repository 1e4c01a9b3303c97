// annals -- event-sourced aggregates on the C++ Actor Framework.
// The LMDB journal: verify (see lmdb_journal.hpp).
#include "lmdb_journal.hpp"

#include <map>

namespace annals::detail {

// -- maintenance --------------------------------------------------------------

caf::expected<verify_report> lmdb_journal::verify() const {
  return with_read_txn([&](MDB_txn* txn) -> caf::expected<verify_report> {
    verify_report rep;
    auto problem = [&](std::string text) {
      if (rep.problems.size() < 100)
        rep.problems.push_back(std::move(text));
    };
    log_reader lookup;
    if (auto rc = lookup.open(txn, log_); rc != 0)
      return lmdb_error(rc, "open cursor");
    event_view ev;
    // 1. Both indexes: entries tile 1..end without gaps, and every sequence
    //    number holds the record the entry promises.
    std::vector<position> pindexed(partitions_, 0);
    std::map<std::string, revision> sindexed;
    auto check_index = [&](MDB_dbi dbi, bool partitions) -> caf::error {
      cursor_guard cur;
      if (auto rc = mdb_cursor_open(txn, dbi, &cur.cur); rc != 0)
        return lmdb_error(rc, "open cursor");
      MDB_val k, v;
      auto rc = mdb_cursor_get(cur.cur, &k, &v, MDB_FIRST);
      std::vector<uint64_t> seqs;
      std::string owner;
      uint64_t prev = 0;
      while (rc == 0) {
        auto key = to_view(k);
        auto index = partitions ? "partition index" : "stream index";
        if (key.size() < (partitions ? 12u : 12u)
            || (partitions && key.size() != 12)) {
          problem(std::string{index} + ": malformed key");
          rc = mdb_cursor_get(cur.cur, &k, &v, MDB_NEXT);
          continue;
        }
        auto prefix = std::string{key.substr(0, key.size() - 8)};
        auto last = suffix_u64be(key);
        if (prefix != owner) {
          owner = prefix;
          prev = 0;
        }
        partition_id p = 0;
        if (partitions)
          p = byte_reader{prefix.data(), 4}.u32be();
        auto name = partitions ? "partition " + std::to_string(p)
                               : std::string{"a stream"};
        uint64_t first = 0;
        if (partitions && p >= partitions_) {
          problem(std::string{index} + ": partition " + std::to_string(p)
                  + " out of range");
        } else if (!decode_index_entry(to_view(v), first, seqs)
                   || first + seqs.size() - 1 != last) {
          problem(std::string{index} + " entry of " + name + " ending at "
                  + std::to_string(last) + " is malformed");
        } else {
          if (first != prev + 1)
            problem(std::string{index} + " entry of " + name + " starts at "
                    + std::to_string(first) + ", expected "
                    + std::to_string(prev + 1));
          for (std::size_t i = 0; i < seqs.size(); ++i) {
            auto n = first + i;
            auto where = name + (partitions ? " position " : " revision ")
                         + std::to_string(n) + " (log sequence "
                         + std::to_string(seqs[i]) + ")";
            MDB_val lv;
            auto lrc = lookup.at(seqs[i], lv);
            if (lrc != 0) {
              problem(where + ": no record");
              continue;
            }
            if (decode_record_view(lv.mv_data, lv.mv_size, ev)
                != record_fault::none) {
              problem(where + ": record fails its checksum");
              continue;
            }
            bool match = partitions ? ev.partition == p && ev.pos == n
                                    : ev.rev == n && stream_key_of(ev) == owner;
            if (!match)
              problem(where + ": the record is " + std::string{ev.category}
                      + "/" + std::string{ev.id} + " revision "
                      + std::to_string(ev.rev) + ", partition "
                      + std::to_string(ev.partition) + " position "
                      + std::to_string(ev.pos));
          }
          if (partitions)
            pindexed[p] = last;
          else
            sindexed[owner] = last;
        }
        prev = last;
        rc = mdb_cursor_get(cur.cur, &k, &v, MDB_NEXT);
      }
      if (rc != MDB_NOTFOUND)
        return lmdb_error(rc, "scan an index");
      return {};
    };
    if (auto err = check_index(parts_, true))
      return err;
    if (auto err = check_index(streams_, false))
      return err;
    // 2. The log: checksums, gap-free positions and revisions in commit
    //    order, and every event past its indexes' ends at or after
    //    indexed_through (else a restart would not find it).
    uint64_t through = 1;
    {
      auto key = std::string_view{"indexed_through"};
      MDB_val k = to_val(key), v;
      if (mdb_get(txn, meta_, &k, &v) == 0)
        through = byte_reader{v.mv_data, v.mv_size}.u64le();
    }
    std::vector<position> ends(partitions_, 0);
    std::map<std::string, revision> heads;
    {
      cursor_guard cur;
      if (auto rc = mdb_cursor_open(txn, log_, &cur.cur); rc != 0)
        return lmdb_error(rc, "open cursor");
      MDB_val k, v;
      auto rc = mdb_cursor_get(cur.cur, &k, &v, MDB_FIRST);
      while (rc == 0) {
        ++rep.events;
        auto seq = suffix_u64be(to_view(k));
        auto where = "log sequence " + std::to_string(seq);
        if (k.mv_size != 8) {
          problem("log: malformed key of " + std::to_string(k.mv_size)
                  + " bytes");
        } else if (auto fault = decode_record_view(v.mv_data, v.mv_size, ev);
                   fault != record_fault::none) {
          problem(describe(record_error(fault, v.mv_size, where)));
        } else if (ev.partition >= partitions_) {
          problem(where + ": partition out of range");
        } else {
          auto p = ev.partition;
          stream_id s{std::string{ev.category}, std::string{ev.id}};
          where += " (" + to_string(s) + " revision " + std::to_string(ev.rev)
                   + ", partition " + std::to_string(p) + " position "
                   + std::to_string(ev.pos) + ")";
          if (partition_of(s, partitions_) != p)
            problem(where + ": the stream belongs to another partition");
          if (ev.pos != ends[p] + 1)
            problem(where + ": gap, expected position "
                    + std::to_string(ends[p] + 1));
          ends[p] = ev.pos;
          auto skey = stream_key(s);
          auto& head = heads[skey];
          if (ev.rev != head + 1)
            problem(where + ": expected revision " + std::to_string(head + 1));
          head = ev.rev;
          auto si = sindexed.find(skey);
          bool unindexed = ev.pos > pindexed[p] || si == sindexed.end()
                           || ev.rev > si->second;
          if (unindexed && seq < through)
            problem(where + ": not indexed, but before indexed_through "
                    + std::to_string(through));
        }
        rc = mdb_cursor_get(cur.cur, &k, &v, MDB_NEXT);
      }
      if (rc != MDB_NOTFOUND)
        return lmdb_error(rc, "scan log");
    }
    rep.streams = heads.size();
    for (partition_id p = 0; p < partitions_; ++p) {
      if (ends[p] > 0)
        ++rep.partitions_used;
      if (pindexed[p] > ends[p])
        problem("partition " + std::to_string(p) + ": the index reaches "
                + std::to_string(pindexed[p]) + ", the log "
                + std::to_string(ends[p]));
    }
    for (const auto& [skey, last] : sindexed) {
      auto it = heads.find(skey);
      if (it == heads.end() || it->second < last)
        problem("a stream's index reaches revision " + std::to_string(last)
                + ", the log "
                + std::to_string(it == heads.end() ? 0 : it->second));
    }
    // 3. Snapshots decode and match their keys.
    {
      cursor_guard cur;
      if (auto rc = mdb_cursor_open(txn, snapshots_, &cur.cur); rc != 0)
        return lmdb_error(rc, "open cursor");
      MDB_val k, v;
      auto rc = mdb_cursor_get(cur.cur, &k, &v, MDB_FIRST);
      while (rc == 0) {
        ++rep.snapshots;
        auto key = to_view(k);
        auto where = "snapshot #" + std::to_string(rep.snapshots);
        auto snap = decode_snapshot(v.mv_data, v.mv_size, where);
        if (!snap)
          problem(describe(snap.error()));
        else if (key.size() < 8 || suffix_u64be(key) != snap->rev)
          problem(where + ": key and record disagree");
        rc = mdb_cursor_get(cur.cur, &k, &v, MDB_NEXT);
      }
      if (rc != MDB_NOTFOUND)
        return lmdb_error(rc, "scan snapshots");
    }
    // 4. Lineage: per partition, first positions increase with the epochs
    //    and lie within the log.
    {
      cursor_guard cur;
      if (auto rc = mdb_cursor_open(txn, lineage_, &cur.cur); rc != 0)
        return lmdb_error(rc, "open cursor");
      MDB_val k, v;
      auto rc = mdb_cursor_get(cur.cur, &k, &v, MDB_FIRST);
      partition_id prev_p = 0;
      position prev_first = 0;
      while (rc == 0) {
        byte_reader kr{k.mv_data, k.mv_size};
        auto p = kr.u32be();
        auto epoch = kr.u64be();
        byte_reader vr{v.mv_data, v.mv_size};
        auto first = vr.u64le();
        auto where = "lineage of partition " + std::to_string(p) + " epoch "
                     + std::to_string(epoch);
        if (!kr.ok() || !vr.ok() || p >= partitions_) {
          problem("lineage: malformed entry");
        } else {
          if (p != prev_p)
            prev_first = 0;
          if (first <= prev_first || first > ends[p])
            problem(where + ": first position " + std::to_string(first)
                    + " out of order or past the log's end "
                    + std::to_string(ends[p]));
          prev_p = p;
          prev_first = first;
        }
        rc = mdb_cursor_get(cur.cur, &k, &v, MDB_NEXT);
      }
      if (rc != MDB_NOTFOUND)
        return lmdb_error(rc, "scan lineage");
    }
    return rep;
  });
}

} // namespace annals::detail
