// annals -- event-sourced aggregates on the C++ Actor Framework.
// The LMDB journal: opening, and the tail rebuilt from the log (see
// lmdb_journal.hpp).
#include "lmdb_journal.hpp"

#include <filesystem>
#include <unordered_map>

namespace annals::detail {

lmdb_failure index_end_in(MDB_cursor* idx, std::string_view prefix,
                          uint64_t& out) {
  out = 0;
  std::string probe{prefix};
  byte_writer{probe}.u64be(std::numeric_limits<uint64_t>::max());
  MDB_val k = to_val(probe), v;
  auto rc = mdb_cursor_get(idx, &k, &v, MDB_SET_RANGE);
  if (rc == 0)
    rc = mdb_cursor_get(idx, &k, &v, MDB_PREV);
  else if (rc == MDB_NOTFOUND)
    rc = mdb_cursor_get(idx, &k, &v, MDB_LAST);
  if (rc == MDB_NOTFOUND)
    return {};
  if (rc != 0)
    return {rc, "look up index end"};
  auto key = to_view(k);
  if (key.size() == prefix.size() + 8 && starts_with(key, prefix))
    out = suffix_u64be(key);
  return {};
}

// -- opening ------------------------------------------------------------------

caf::error lmdb_journal::open() {
  if (auto rc = mdb_env_create(&env_); rc != 0) {
    env_ = nullptr;
    return lmdb_error(rc, "mdb_env_create");
  }
  mdb_env_set_maxdbs(env_, 16);
  if (auto rc = mdb_env_set_mapsize(env_, opts_.initial_map_bytes); rc != 0)
    return lmdb_error(rc, "set map size");
  unsigned flags = MDB_NOTLS;
  if (opts_.sync == durability::unsafe_no_sync)
    flags |= MDB_NOSYNC;
  if (auto rc = mdb_env_open(env_, dir_.c_str(), flags, 0644); rc != 0)
    return lmdb_error(rc, "open LMDB environment in " + dir_);
  int dead = 0;
  mdb_reader_check(env_, &dead); // clears reader slots of dead processes
  txn_guard txn;
  if (auto rc = mdb_txn_begin(env_, nullptr, 0, &txn.txn); rc != 0) {
    txn.txn = nullptr;
    return lmdb_error(rc, "begin transaction in " + dir_);
  }
  // The format first: tables of another format must not be created beside
  // it (the transaction is aborted on any error, so nothing is written).
  if (auto rc = mdb_dbi_open(txn.txn, "meta", MDB_CREATE, &meta_); rc != 0)
    return lmdb_error(rc, "open table meta");
  auto fmt_key = std::string_view{"format"};
  MDB_val k = to_val(fmt_key), v;
  auto rc = mdb_get(txn.txn, meta_, &k, &v);
  bool fresh = rc == MDB_NOTFOUND;
  if (rc != 0 && !fresh)
    return lmdb_error(rc, "read format of " + dir_);
  if (!fresh) {
    auto read = read_meta(txn.txn, v);
    if (!read)
      return std::move(read.error());
    if (opts_.partitions != 0 && opts_.partitions != *read)
      return make_error(journal_errc::partition_count_mismatch,
                        "journal in " + dir_ + " was created with "
                          + std::to_string(*read) + " partitions, opened with "
                          + std::to_string(opts_.partitions));
    partitions_ = *read;
  }
  for (auto& t : table_handles())
    if ((rc = mdb_dbi_open(txn.txn, t.name, MDB_CREATE, t.dbi)) != 0)
      return lmdb_error(rc, std::string{"open table "} + t.name);
  if (fresh) {
    if (opts_.partitions == 0)
      return make_error(journal_errc::invalid_argument,
                        "creating a journal in " + dir_
                          + " needs a partition count");
    partitions_ = opts_.partitions;
    incarnation_ = new_incarnation();
    std::string fmt, parts;
    byte_writer{fmt}.u32le(format_version);
    byte_writer{parts}.u32le(partitions_);
    auto part_key = std::string_view{"partitions"};
    auto inc_key = std::string_view{"incarnation"};
    MDB_val fk = to_val(fmt_key), fv = to_val(fmt), pk = to_val(part_key),
            pv = to_val(parts), ik = to_val(inc_key), iv = to_val(incarnation_);
    if ((rc = mdb_put(txn.txn, meta_, &fk, &fv, 0)) != 0
        || (rc = mdb_put(txn.txn, meta_, &pk, &pv, 0)) != 0
        || (rc = mdb_put(txn.txn, meta_, &ik, &iv, 0)) != 0)
      return lmdb_error(rc, "initialise " + dir_);
  }
  // The lineage's last epoch per partition.
  lineage_last_.assign(partitions_, 0);
  {
    cursor_guard cur;
    if ((rc = mdb_cursor_open(txn.txn, lineage_, &cur.cur)) != 0)
      return lmdb_error(rc, "open cursor");
    MDB_val lk, lv;
    rc = mdb_cursor_get(cur.cur, &lk, &lv, MDB_FIRST);
    while (rc == 0) {
      byte_reader r{lk.mv_data, lk.mv_size};
      auto p = r.u32be();
      auto epoch = r.u64be();
      if (!r.ok() || p >= partitions_)
        return make_error(journal_errc::corrupt_storage,
                          "a lineage key of " + dir_ + " is malformed");
      lineage_last_[p] = std::max(lineage_last_[p], epoch);
      rc = mdb_cursor_get(cur.cur, &lk, &lv, MDB_NEXT);
    }
    if (rc != MDB_NOTFOUND)
      return lmdb_error(rc, "read lineage");
  }
  tail_ = index_tail{partitions_};
  if (auto err = rebuild_tail(txn.txn, tail_, part_end_, next_seq_))
    return err;
  indexed_through_ = std::min(tail_.oldest_seq(0, 0), next_seq_);
  if ((rc = txn.commit()) != 0)
    return lmdb_error(rc, "commit initialisation of " + dir_);
  return {};
}

caf::expected<uint32_t> lmdb_journal::read_meta(MDB_txn* txn,
                                                const MDB_val& fmt) {
  byte_reader r{fmt.mv_data, fmt.mv_size};
  auto version = r.u32le();
  if (r.ok() && version == 1)
    return make_error(journal_errc::unsupported_format,
                      "data directory " + dir_
                        + " holds a journal of format 1; this build reads "
                          "format "
                        + std::to_string(format_version)
                        + ". Convert it (the old file is kept) with: "
                          "annals-journal upgrade "
                        + dir_);
  if (!r.ok() || version != format_version)
    return make_error(journal_errc::unsupported_format,
                      "data directory " + dir_ + " has format version "
                        + (r.ok() ? std::to_string(version) : "<unreadable>")
                        + "; this build reads version "
                        + std::to_string(format_version));
  auto part_key = std::string_view{"partitions"};
  MDB_val pk = to_val(part_key), v;
  if (auto rc = mdb_get(txn, meta_, &pk, &v); rc != 0)
    return lmdb_error(rc, "read partition count of " + dir_);
  byte_reader pr{v.mv_data, v.mv_size};
  auto stored = pr.u32le();
  if (!pr.ok() || stored == 0)
    return make_error(journal_errc::corrupt_storage,
                      "partition count of " + dir_ + " is unreadable");
  auto inc_key = std::string_view{"incarnation"};
  MDB_val ik = to_val(inc_key);
  if (auto rc = mdb_get(txn, meta_, &ik, &v); rc != 0)
    return lmdb_error(rc, "read incarnation of " + dir_);
  incarnation_ = std::string{to_view(v)};
  return stored;
}

caf::error lmdb_journal::open_read_only() {
  if (auto rc = mdb_env_create(&env_); rc != 0) {
    env_ = nullptr;
    return lmdb_error(rc, "mdb_env_create");
  }
  mdb_env_set_maxdbs(env_, 16);
  // No map size: LMDB takes the one stored in the file.
  if (auto rc = mdb_env_open(env_, dir_.c_str(), MDB_RDONLY | MDB_NOTLS, 0644);
      rc != 0)
    return lmdb_error(rc, "open LMDB environment in " + dir_ + " read-only");
  // The writer may have grown the map since it last committed the size.
  if (auto rc = mdb_env_set_mapsize(env_, 0); rc != 0)
    return lmdb_error(rc, "adopt the map size of " + dir_);
  txn_guard txn;
  for (int resizes = 0;; ++resizes) {
    auto rc = mdb_txn_begin(env_, nullptr, MDB_RDONLY, &txn.txn);
    if (rc == 0)
      break;
    txn.txn = nullptr;
    if (rc != MDB_MAP_RESIZED || resizes == 16)
      return lmdb_error(rc, "begin read transaction in " + dir_);
    if ((rc = mdb_env_set_mapsize(env_, 0)) != 0)
      return lmdb_error(rc, "adopt the grown map of " + dir_);
  }
  auto rc = mdb_dbi_open(txn.txn, "meta", 0, &meta_);
  if (rc == MDB_NOTFOUND)
    return make_error(journal_errc::unsupported_format,
                      dir_
                        + " holds an LMDB environment but no annals journal "
                          "(table meta is missing)");
  if (rc != 0)
    return lmdb_error(rc, "open table meta");
  auto fmt_key = std::string_view{"format"};
  MDB_val k = to_val(fmt_key), v;
  rc = mdb_get(txn.txn, meta_, &k, &v);
  if (rc == MDB_NOTFOUND)
    return make_error(journal_errc::unsupported_format,
                      "the journal in " + dir_ + " has no format version");
  if (rc != 0)
    return lmdb_error(rc, "read format of " + dir_);
  auto stored = read_meta(txn.txn, v);
  if (!stored)
    return std::move(stored.error());
  partitions_ = *stored;
  for (auto& t : table_handles()) {
    rc = mdb_dbi_open(txn.txn, t.name, 0, t.dbi);
    if (rc == MDB_NOTFOUND)
      return make_error(journal_errc::unsupported_format,
                        dir_
                          + " holds an LMDB environment but no annals "
                            "journal (table "
                          + t.name + " is missing)");
    if (rc != 0)
      return lmdb_error(rc, std::string{"open table "} + t.name);
  }
  // Table handles opened in a read-only transaction outlive it only if it
  // commits (mdb_dbi_open).
  if ((rc = txn.commit()) != 0)
    return lmdb_error(rc, "finish opening " + dir_);
  return {};
}

caf::error lmdb_journal::rebuild_tail(MDB_txn* txn, index_tail& tail,
                                      std::vector<position>& ends,
                                      uint64_t& next_seq) const {
  auto through_key = std::string_view{"indexed_through"};
  MDB_val k = to_val(through_key), v;
  uint64_t from = 1;
  auto rc = mdb_get(txn, meta_, &k, &v);
  if (rc == 0) {
    byte_reader r{v.mv_data, v.mv_size};
    from = r.u64le();
    if (!r.ok())
      return make_error(journal_errc::corrupt_storage,
                        "indexed_through of " + dir_ + " is malformed");
  } else if (rc != MDB_NOTFOUND) {
    return lmdb_error(rc, "read indexed_through of " + dir_);
  }
  cursor_guard sidx, pidx, log;
  if ((rc = mdb_cursor_open(txn, streams_, &sidx.cur)) != 0
      || (rc = mdb_cursor_open(txn, parts_, &pidx.cur)) != 0
      || (rc = mdb_cursor_open(txn, log_, &log.cur)) != 0)
    return lmdb_error(rc, "open cursor");
  ends.assign(partitions_, 0);
  for (partition_id p = 0; p < partitions_; ++p)
    if (auto f = index_end_in(pidx.cur, u32be_key(p), ends[p]); f.rc != 0)
      return lmdb_error(f.rc, f.what + " in " + dir_);
  std::unordered_map<std::string, revision> durable; // stream -> index end
  auto probe = u64be_key(from);
  k = to_val(probe);
  rc = mdb_cursor_get(log.cur, &k, &v, MDB_SET_RANGE);
  event_view ev;
  while (rc == 0) {
    auto seq = suffix_u64be(to_view(k));
    auto where = "log sequence " + std::to_string(seq) + " of " + dir_;
    // A record that fails its checksum is still indexed if its fields
    // parse: reads report it where they meet it, and the rest of the
    // journal stays readable. One that does not parse cannot be placed.
    if (auto fault = decode_record_fields(v.mv_data, v.mv_size, ev);
        fault != record_fault::none)
      return record_error(fault, v.mv_size, where);
    if (ev.partition >= partitions_)
      return make_error(journal_errc::corrupt_record,
                        where + ": partition out of range");
    auto p = ev.partition;
    if (ev.pos > ends[p]) {
      if (ev.pos != ends[p] + 1)
        return make_error(journal_errc::corrupt_record,
                          where + ": partition " + std::to_string(p)
                            + " position " + std::to_string(ev.pos)
                            + " does not follow " + std::to_string(ends[p]));
      tail.add_partition(p, ev.pos, seq);
      ends[p] = ev.pos;
    }
    auto skey = stream_key_of(ev);
    auto it = durable.find(skey);
    if (it == durable.end()) {
      revision end = 0;
      if (auto f = index_end_in(sidx.cur, skey, end); f.rc != 0)
        return lmdb_error(f.rc, f.what + " in " + dir_);
      it = durable.emplace(skey, end).first;
    }
    if (ev.rev > it->second) {
      if (ev.rev != it->second + 1)
        return make_error(journal_errc::corrupt_record,
                          where + ": stream " + std::string{ev.category} + "/"
                            + std::string{ev.id} + " revision "
                            + std::to_string(ev.rev) + " does not follow "
                            + std::to_string(it->second));
      tail.add_stream(skey, ev.rev, seq);
      it->second = ev.rev;
    }
    rc = mdb_cursor_get(log.cur, &k, &v, MDB_NEXT);
  }
  if (rc != MDB_NOTFOUND)
    return lmdb_error(rc, "scan the log of " + dir_);
  next_seq = 1;
  rc = mdb_cursor_get(log.cur, &k, &v, MDB_LAST);
  if (rc == 0)
    next_seq = suffix_u64be(to_view(k)) + 1;
  else if (rc != MDB_NOTFOUND)
    return lmdb_error(rc, "read the log's end in " + dir_);
  return {};
}

} // namespace annals::detail

namespace annals {

using namespace detail;

caf::expected<std::unique_ptr<journal>>
open_lmdb_journal(const std::string& dir, const journal_options& opts) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec)
    return make_error(journal_errc::io_error, "cannot create data directory "
                                                + dir + ": " + ec.message());
  auto claim = env_claim::acquire(dir);
  if (!claim)
    return std::move(claim.error());
  auto lock = dir_lock::acquire(dir);
  if (!lock)
    return std::move(lock.error());
  auto j = std::make_unique<lmdb_journal>(dir, opts, std::move(*claim),
                                          std::move(*lock), access::read_write);
  if (auto err = j->open())
    return err;
  return std::unique_ptr<journal>{std::move(j)};
}

caf::expected<std::unique_ptr<journal>>
open_lmdb_journal_read_only(const std::string& dir) {
  // Check first, so that a wrong path creates nothing (LMDB would create
  // its lock file in any directory).
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec))
    return make_error(journal_errc::invalid_argument,
                      "no journal in " + dir + ": not a directory");
  if (!std::filesystem::is_regular_file(dir + "/data.mdb", ec))
    return make_error(journal_errc::invalid_argument,
                      "no journal in " + dir + ": it has no data.mdb");
  auto claim = env_claim::acquire(dir);
  if (!claim)
    return std::move(claim.error());
  journal_options opts;
  opts.partitions = 0;
  auto j = std::make_unique<lmdb_journal>(dir, opts, std::move(*claim),
                                          std::nullopt, access::read_only);
  if (auto err = j->open_read_only())
    return err;
  return std::unique_ptr<journal>{std::move(j)};
}

} // namespace annals
