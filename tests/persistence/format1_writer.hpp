// annals -- test support: writes LMDB journals in on-disk format 1 (the
// layout in persistence/src/format1.hpp) with raw LMDB, as the format-1
// journal's commit did, for the upgrade tests: the library itself writes
// only the current format. Not thread-safe.
#pragma once

#include "annals/persistence/batch.hpp"

#include "codec.hpp"
#include "format1.hpp"

#include <catch2/catch.hpp>
#include <lmdb.h>

#include <map>
#include <string>

namespace annals::testing {

class format1_writer {
public:
  /// Creates the journal in `dir` (which must exist) with `partitions`.
  format1_writer(const std::string& dir, uint32_t partitions)
    : partitions_(partitions) {
    REQUIRE(mdb_env_create(&env_) == 0);
    mdb_env_set_maxdbs(env_, 16);
    REQUIRE(mdb_env_set_mapsize(env_, std::size_t{1} << 30) == 0);
    REQUIRE(mdb_env_open(env_, dir.c_str(), MDB_NOSYNC, 0644) == 0);
    MDB_txn* txn = begin();
    for (std::size_t i = 0; i < detail::format1::tables.size(); ++i)
      REQUIRE(
        mdb_dbi_open(txn, detail::format1::tables[i], MDB_CREATE, &dbi_[i])
        == 0);
    std::string fmt, parts;
    detail::byte_writer{fmt}.u32le(detail::format1::version);
    detail::byte_writer{parts}.u32le(partitions);
    put(txn, meta, "format", fmt);
    put(txn, meta, "partitions", parts);
    REQUIRE(mdb_txn_commit(txn) == 0);
  }

  format1_writer(const format1_writer&) = delete;
  format1_writer& operator=(const format1_writer&) = delete;

  ~format1_writer() {
    mdb_env_sync(env_, 1);
    mdb_env_close(env_);
  }

  /// Commits `batch` in one transaction as format 1 did: dedupe by command
  /// id, expected revision, owner epochs, events stamped `now` where their
  /// timestamp is 0; snapshots are all kept.
  batch_result commit(const write_batch& batch, int64_t now) {
    batch_result out;
    MDB_txn* txn = begin();
    for (const auto& req : batch.appends)
      out.appends.push_back(append(txn, req, now));
    for (const auto& snap : batch.snapshots) {
      std::string rec;
      detail::encode_snapshot(snap, rec);
      put(txn, snapshots, skey_rev(snap.stream, snap.rev), rec);
    }
    for (const auto& cp : batch.checkpoints) {
      std::string v;
      detail::byte_writer{v}.u64le(cp.pos);
      put(txn, checkpoints,
          detail::format1::checkpoint_key(cp.consumer, cp.partition), v);
    }
    for (const auto& mw : batch.models) {
      auto key = detail::format1::model_key(mw.model, mw.key);
      if (mw.erase) {
        MDB_val k = val(key);
        auto rc = mdb_del(txn, dbi_[models], &k, nullptr);
        REQUIRE((rc == 0 || rc == MDB_NOTFOUND));
      } else {
        put(txn, models, key, mw.value);
      }
    }
    for (const auto& f : batch.fences)
      if (f.epoch > epoch_of(txn, f.partition))
        set_epoch(txn, f.partition, f.epoch);
    REQUIRE(mdb_txn_commit(txn) == 0);
    return out;
  }

  /// Drops a remembered command id, as the eviction of format 1's dedupe
  /// window did.
  void forget_command(const stream_id& s, const std::string& command_id) {
    MDB_txn* txn = begin();
    auto key = detail::format1::stream_key(s) + command_id;
    MDB_val k = val(key);
    REQUIRE(mdb_del(txn, dbi_[commands], &k, nullptr) == 0);
    REQUIRE(mdb_txn_commit(txn) == 0);
  }

  /// Flips one byte of the payload of the record at (p, pos): its checksum
  /// no longer holds.
  void damage_record(partition_id p, position pos) {
    MDB_txn* txn = begin();
    auto key = detail::format1::log_key(p, pos);
    MDB_val k = val(key), v;
    REQUIRE(mdb_get(txn, dbi_[log], &k, &v) == 0);
    std::string rec{static_cast<const char*>(v.mv_data), v.mv_size};
    rec.back() = static_cast<char>(rec.back() ^ 0x20);
    put(txn, log, key, rec);
    REQUIRE(mdb_txn_commit(txn) == 0);
  }

  /// Overwrites the stored partition count (its streams are then stored
  /// in partitions their hash does not name).
  void set_partition_count(uint32_t n) {
    MDB_txn* txn = begin();
    std::string v;
    detail::byte_writer{v}.u32le(n);
    put(txn, meta, "partitions", v);
    REQUIRE(mdb_txn_commit(txn) == 0);
  }

private:
  enum table : std::size_t {
    meta,
    log,
    streams,
    commands,
    command_order,
    snapshots,
    checkpoints,
    models,
    epochs,
  };

  static MDB_val val(const std::string& s) {
    return MDB_val{s.size(), const_cast<char*>(s.data())};
  }

  MDB_txn* begin() {
    MDB_txn* txn = nullptr;
    REQUIRE(mdb_txn_begin(env_, nullptr, 0, &txn) == 0);
    return txn;
  }

  void put(MDB_txn* txn, table t, const std::string& key,
           const std::string& value) {
    MDB_val k = val(key), v = val(value);
    REQUIRE(mdb_put(txn, dbi_[t], &k, &v, 0) == 0);
  }

  static std::string skey_rev(const stream_id& s, revision r) {
    return detail::format1::stream_rev_key(detail::format1::stream_key(s), r);
  }

  uint64_t epoch_of(MDB_txn* txn, partition_id p) {
    auto key = detail::format1::u32be_key(p);
    MDB_val k = val(key), v;
    if (mdb_get(txn, dbi_[epochs], &k, &v) != 0)
      return 0;
    detail::byte_reader r{v.mv_data, v.mv_size};
    return r.u64le();
  }

  void set_epoch(MDB_txn* txn, partition_id p, uint64_t epoch) {
    std::string v;
    detail::byte_writer{v}.u64le(epoch);
    put(txn, epochs, detail::format1::u32be_key(p), v);
  }

  caf::expected<append_result> append(MDB_txn* txn, const append_request& req,
                                      int64_t now) {
    auto skey = detail::format1::stream_key(req.stream);
    auto p = partition_of(req.stream, partitions_);
    if (!req.command_id.empty()) {
      auto ckey = skey + req.command_id;
      MDB_val k = val(ckey), v;
      if (mdb_get(txn, dbi_[commands], &k, &v) == 0) {
        detail::format1::command_entry ce;
        REQUIRE(detail::format1::decode_command(
          {static_cast<const char*>(v.mv_data), v.mv_size}, ce));
        return append_result{ce.partition,     ce.first_revision,
                             ce.last_revision, ce.first_position,
                             ce.last_position, true};
      }
    }
    if (req.epoch != 0) {
      auto current = epoch_of(txn, p);
      if (req.epoch < current)
        return make_error(journal_errc::stale_epoch, "stale");
      if (req.epoch > current)
        set_epoch(txn, p, req.epoch);
    }
    auto& last = heads_[skey];
    if (!req.expected.admits(last))
      return make_conflict_error("conflict", last);
    auto& end = ends_[p];
    auto first_pos = end + 1;
    auto n = req.events.size();
    std::string rec;
    for (std::size_t j = 0; j < n; ++j) {
      const auto& ev = req.events[j];
      detail::encode_record(
        detail::record_view{req.stream, last + 1 + j, p, first_pos + j,
                            ev.timestamp_ns != 0 ? ev.timestamp_ns : now,
                            req.epoch, ev.schema_version, ev.type,
                            req.command_id, ev.correlation_id, ev.causation_id,
                            ev.payload},
        rec);
      put(txn, log, detail::format1::log_key(p, first_pos + j), rec);
    }
    put(txn, streams, detail::format1::stream_rev_key(skey, last + n),
        detail::format1::encode_range({p, first_pos, last + 1}));
    append_result res{p,         last + 1,          last + n,
                      first_pos, first_pos + n - 1, false};
    if (!req.command_id.empty()) {
      auto ckey = skey + req.command_id;
      put(txn, commands, ckey,
          detail::format1::encode_command(
            {p, res.first_revision, res.last_revision, res.first_position,
             res.last_position, now, order_}));
      std::string ov;
      detail::byte_writer{ov}.u64le(static_cast<uint64_t>(now));
      ov += ckey;
      put(txn, command_order, detail::format1::u64be_key(order_), ov);
      ++order_;
    }
    last += n;
    end += n;
    return res;
  }

  uint32_t partitions_;
  MDB_env* env_ = nullptr;
  MDB_dbi dbi_[detail::format1::tables.size()] = {};
  std::map<std::string, revision> heads_;
  std::map<partition_id, position> ends_;
  uint64_t order_ = 1;
};

} // namespace annals::testing
