// annals -- event-sourced aggregates on the C++ Actor Framework.
//
// The LMDB journal. Key layout (all integers in keys big-endian so that
// LMDB's byte order is numeric order; see persistence/README.md):
//
//   meta          "format" -> u32, "partitions" -> u32
//   log           u32 partition, u64 position -> event record (CRC32C)
//   streams       stream key, u64 last revision -> {partition, first pos,
//                 first revision}: ONE entry per append, not per event
//   commands      stream key + command id -> dedupe entry
//   command_order u64 order -> u64 timestamp + commands key (eviction queue)
//   snapshots     stream key, u64 revision -> snapshot record (CRC32C)
//   checkpoints   consumer, u32 partition -> u64 position
//   models        model, key -> value
//   epochs        u32 partition -> u64 highest owner epoch
//
// Why this layout. Events live in per-partition logs, so a partition -- the
// unit of subscription, hand-off and (later) replication -- is one contiguous
// key range read with one cursor, and appends to it are in key order. The
// stream index holds one small entry per append (a revision range pointing at
// consecutive partition positions), not one per event: a command that emits
// k events costs k log entries plus one index entry, and the same entry
// answers "last revision" (seek to the stream's last key) with no separate
// head table to dirty. Measured cost (bench/journal_bench): with one stream
// all writes are sequential; with 10^4 streams each append dirties about two
// pages (its partition's tail and its stream's index page), which is the
// price of partition-ordered logs. See the README for figures.
//
// Concurrency: `write_mtx_` serialises commits (one LMDB writer). Readers
// run read-only transactions (MDB_NOTLS, so any thread) under a shared lock
// on `resize_mtx_`; growing the map takes it exclusively because
// mdb_env_set_mapsize must not run while this process has transactions open.
//
// Read-only journals (open_lmdb_journal_read_only) open the environment with
// MDB_RDONLY and without the directory's flock, so they run beside the
// writer of another process (LMDB MVCC: a reader sees the last commit before
// its transaction began). When that writer grows the map past this
// process's mapping, mdb_txn_begin returns MDB_MAP_RESIZED; the reader then
// adopts the new size (mdb_env_set_mapsize(env, 0), under the exclusive
// lock) and begins again, as lmdb.h prescribes.

#include "annals/failpoint.hpp"
#include "annals/persistence/journal.hpp"
#include "annals/persistence/planted_bugs.hpp"

#include "codec.hpp"
#include "dir_lock.hpp"
#include "lmdb_errors.hpp"
#include "validate.hpp"

#include <lmdb.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <unordered_map>

namespace annals {

namespace {

using namespace detail;

MDB_val to_val(std::string_view s) {
  return MDB_val{s.size(), const_cast<char*>(s.data())};
}

std::string_view to_view(const MDB_val& v) {
  return {static_cast<const char*>(v.mv_data), v.mv_size};
}

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && s.substr(0, prefix.size()) == prefix;
}

uint64_t suffix_u64be(std::string_view key) {
  byte_reader r{key.data() + key.size() - 8, 8};
  return r.u64be();
}

std::string u32be_key(uint32_t x) {
  std::string out;
  byte_writer{out}.u32be(x);
  return out;
}

std::string u64be_key(uint64_t x) {
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

/// A failed LMDB call inside a transaction: its code and what was done.
struct lmdb_failure {
  int rc = 0;
  std::string what;
};

/// How a journal object opened its environment.
enum class access : uint8_t { read_write, read_only };

class lmdb_journal final : public journal {
public:
  lmdb_journal(std::string dir, journal_options opts, env_claim claim,
               std::optional<dir_lock> lock, access mode)
    : dir_(std::move(dir)), opts_(opts), claim_(std::move(claim)),
      lock_(std::move(lock)), mode_(mode) {
  }

  ~lmdb_journal() override {
    if (env_ != nullptr)
      mdb_env_close(env_);
  }

  caf::error open();

  /// Opens an existing journal with MDB_RDONLY; writes nothing.
  caf::error open_read_only();

  struct table_handle {
    const char* name;
    MDB_dbi* dbi;
  };

  /// Every table of the format, by name, with the member holding its handle.
  std::array<table_handle, 9> table_handles() noexcept {
    return {{{"meta", &meta_},
             {"log", &log_},
             {"streams", &streams_},
             {"commands", &commands_},
             {"command_order", &order_},
             {"snapshots", &snapshots_},
             {"checkpoints", &checkpoints_},
             {"models", &models_},
             {"epochs", &epochs_}}};
  }

  /// Checks the stored format version `fmt` (the meta table's "format"
  /// value) and reads the stored partition count.
  caf::expected<uint32_t> stored_partitions(MDB_txn* txn, const MDB_val& fmt);

  uint32_t partition_count() const noexcept override {
    return partitions_;
  }

  caf::expected<batch_result> commit(const write_batch& batch) override;

  caf::error scan_stream(const stream_id& stream, revision from,
                         const event_visitor& f) const override;

  caf::error scan_partition(partition_id p, position from,
                            const event_visitor& f) const override;

  caf::expected<std::optional<append_result>>
  find_command(const stream_id& stream,
               const std::string& command_id) const override;

  caf::expected<revision> last_revision(const stream_id& stream) const override;

  caf::expected<std::vector<position>> partition_ends() const override;

  caf::expected<uint64_t> partition_epoch(partition_id p) const override;

  caf::expected<std::optional<snapshot>>
  load_snapshot(const stream_id& stream, revision at_most) const override;

  caf::expected<std::optional<position>>
  load_checkpoint(const std::string& consumer, partition_id p) const override;

  caf::expected<std::optional<std::string>>
  load_model(const std::string& model, const std::string& key) const override;

  caf::error scan_model(const std::string& model,
                        const model_visitor& f) const override;

  caf::error scan_checkpoints(const checkpoint_visitor& f) const override;

  caf::expected<verify_report> verify() const override;

  caf::expected<journal_stats> stats() const override;

private:
  // -- helpers ----------------------------------------------------------------

  /// Runs `f(txn)` in a read-only transaction under the shared resize lock.
  template <class F>
  auto with_read_txn(F f) const -> decltype(f(static_cast<MDB_txn*>(nullptr)));

  /// One attempt at committing `batch`; fills `out`.
  lmdb_failure try_commit(const write_batch& batch, batch_result& out);

  /// Doubles the map up to `max_map_bytes`. False if already at the limit.
  caf::expected<bool> grow_map();

  /// Last revision of the stream with key `skey` (0 if none).
  static lmdb_failure last_revision_in(MDB_cursor* streams,
                                       const std::string& skey, revision& out);

  /// Last position of partition `p` (0 if empty).
  static lmdb_failure partition_end_in(MDB_cursor* log, partition_id p,
                                       position& out);

  lmdb_failure evict_commands(MDB_txn* txn, int64_t now, std::size_t budget);

  lmdb_failure prune_snapshots(MDB_txn* txn, const std::string& skey);

  caf::error fail(caf::error err) {
    failed_ = true;
    failure_ = err;
    return err;
  }

  // -- state ------------------------------------------------------------------

  std::string dir_;
  journal_options opts_;
  env_claim claim_;
  std::optional<dir_lock> lock_; ///< none when read-only
  access mode_;
  MDB_env* env_ = nullptr;
  MDB_dbi meta_ = 0, log_ = 0, streams_ = 0, commands_ = 0, order_ = 0,
          snapshots_ = 0, checkpoints_ = 0, models_ = 0, epochs_ = 0;
  uint32_t partitions_ = 0;
  mutable std::shared_mutex resize_mtx_;
  std::mutex write_mtx_;
  std::atomic<bool> failed_{false};
  caf::error failure_;
  std::atomic<uint64_t> commits_{0};
  uint64_t next_order_ = 1;
  std::string scratch_;
};

template <class F>
auto lmdb_journal::with_read_txn(F f) const
  -> decltype(f(static_cast<MDB_txn*>(nullptr))) {
  // A writer in another process may grow the map several times between two
  // of our reads; each round adopts its latest size, so a few suffice.
  constexpr int max_resizes = 16;
  for (int resizes = 0;; ++resizes) {
    {
      std::shared_lock guard{resize_mtx_};
      txn_guard txn;
      auto rc = mdb_txn_begin(env_, nullptr, MDB_RDONLY, &txn.txn);
      if (rc == 0)
        return f(txn.txn);
      txn.txn = nullptr;
      if (rc != MDB_MAP_RESIZED || resizes == max_resizes)
        return lmdb_error(rc, "begin read transaction in " + dir_);
    }
    // Another process grew the map beyond ours: adopt its size. No
    // transaction of this object is open while we hold the lock exclusively.
    std::unique_lock guard{resize_mtx_};
    if (auto rc = mdb_env_set_mapsize(env_, 0); rc != 0)
      return lmdb_error(rc, "adopt the grown map of " + dir_);
  }
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
  auto tables = table_handles();
  for (auto& t : tables)
    if (auto rc = mdb_dbi_open(txn.txn, t.name, MDB_CREATE, t.dbi); rc != 0)
      return lmdb_error(rc, std::string{"open table "} + t.name);
  auto fmt_key = std::string_view{"format"};
  auto part_key = std::string_view{"partitions"};
  MDB_val k = to_val(fmt_key), v;
  auto rc = mdb_get(txn.txn, meta_, &k, &v);
  if (rc == MDB_NOTFOUND) {
    if (opts_.partitions == 0)
      return make_error(journal_errc::invalid_argument,
                        "creating a journal in " + dir_
                          + " needs a partition count");
    std::string fmt, parts;
    byte_writer{fmt}.u32le(format_version);
    byte_writer{parts}.u32le(opts_.partitions);
    MDB_val fv = to_val(fmt), pk = to_val(part_key), pv = to_val(parts);
    k = to_val(fmt_key);
    if ((rc = mdb_put(txn.txn, meta_, &k, &fv, 0)) != 0
        || (rc = mdb_put(txn.txn, meta_, &pk, &pv, 0)) != 0)
      return lmdb_error(rc, "initialise " + dir_);
    partitions_ = opts_.partitions;
  } else if (rc != 0) {
    return lmdb_error(rc, "read format of " + dir_);
  } else {
    auto read = stored_partitions(txn.txn, v);
    if (!read)
      return std::move(read.error());
    auto stored = *read;
    if (opts_.partitions != 0 && opts_.partitions != stored)
      return make_error(journal_errc::partition_count_mismatch,
                        "journal in " + dir_ + " was created with "
                          + std::to_string(stored) + " partitions, opened with "
                          + std::to_string(opts_.partitions));
    partitions_ = stored;
  }
  // Continue the eviction queue's numbering.
  cursor_guard cur;
  if ((rc = mdb_cursor_open(txn.txn, order_, &cur.cur)) != 0)
    return lmdb_error(rc, "open cursor");
  MDB_val ok, ov;
  rc = mdb_cursor_get(cur.cur, &ok, &ov, MDB_LAST);
  if (rc == 0 && ok.mv_size == 8)
    next_order_ = suffix_u64be(to_view(ok)) + 1;
  else if (rc != 0 && rc != MDB_NOTFOUND)
    return lmdb_error(rc, "read command order");
  mdb_cursor_close(cur.cur);
  cur.cur = nullptr;
  if ((rc = txn.commit()) != 0)
    return lmdb_error(rc, "commit initialisation of " + dir_);
  return {};
}

caf::expected<uint32_t> lmdb_journal::stored_partitions(MDB_txn* txn,
                                                        const MDB_val& fmt) {
  byte_reader r{fmt.mv_data, fmt.mv_size};
  auto version = r.u32le();
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
  auto tables = table_handles();
  for (auto& t : tables) {
    auto rc = mdb_dbi_open(txn.txn, t.name, 0, t.dbi);
    if (rc == MDB_NOTFOUND)
      return make_error(journal_errc::unsupported_format,
                        dir_
                          + " holds an LMDB environment but no annals "
                            "journal (table "
                          + t.name + " is missing)");
    if (rc != 0)
      return lmdb_error(rc, std::string{"open table "} + t.name);
  }
  auto fmt_key = std::string_view{"format"};
  MDB_val k = to_val(fmt_key), v;
  auto rc = mdb_get(txn.txn, meta_, &k, &v);
  if (rc == MDB_NOTFOUND)
    return make_error(journal_errc::unsupported_format,
                      "the journal in " + dir_ + " has no format version");
  if (rc != 0)
    return lmdb_error(rc, "read format of " + dir_);
  auto stored = stored_partitions(txn.txn, v);
  if (!stored)
    return std::move(stored.error());
  partitions_ = *stored;
  // Table handles opened in a read-only transaction outlive it only if it
  // commits (mdb_dbi_open).
  if ((rc = txn.commit()) != 0)
    return lmdb_error(rc, "finish opening " + dir_);
  return {};
}

// -- writing ------------------------------------------------------------------

lmdb_failure lmdb_journal::last_revision_in(MDB_cursor* streams,
                                            const std::string& skey,
                                            revision& out) {
  out = 0;
  auto probe = stream_rev_key(skey, std::numeric_limits<uint64_t>::max());
  MDB_val k = to_val(probe), v;
  auto rc = mdb_cursor_get(streams, &k, &v, MDB_SET_RANGE);
  if (rc == 0)
    rc = mdb_cursor_get(streams, &k, &v, MDB_PREV);
  else if (rc == MDB_NOTFOUND)
    rc = mdb_cursor_get(streams, &k, &v, MDB_LAST);
  if (rc == MDB_NOTFOUND)
    return {};
  if (rc != 0)
    return {rc, "look up stream index"};
  auto key = to_view(k);
  if (key.size() == skey.size() + 8 && starts_with(key, skey))
    out = suffix_u64be(key);
  return {};
}

lmdb_failure lmdb_journal::partition_end_in(MDB_cursor* log, partition_id p,
                                            position& out) {
  out = 0;
  auto probe = u32be_key(p + 1);
  MDB_val k = to_val(probe), v;
  int rc;
  if (p + 1 == 0) { // p == UINT32_MAX
    rc = mdb_cursor_get(log, &k, &v, MDB_LAST);
  } else {
    rc = mdb_cursor_get(log, &k, &v, MDB_SET_RANGE);
    if (rc == 0)
      rc = mdb_cursor_get(log, &k, &v, MDB_PREV);
    else if (rc == MDB_NOTFOUND)
      rc = mdb_cursor_get(log, &k, &v, MDB_LAST);
  }
  if (rc == MDB_NOTFOUND)
    return {};
  if (rc != 0)
    return {rc, "look up partition end"};
  partition_id kp;
  position kpos;
  if (parse_log_key(to_view(k), kp, kpos) && kp == p)
    out = kpos;
  return {};
}

lmdb_failure lmdb_journal::evict_commands(MDB_txn* txn, int64_t now,
                                          std::size_t budget) {
  MDB_stat st;
  if (auto rc = mdb_stat(txn, order_, &st); rc != 0)
    return {rc, "stat command order"};
  uint64_t count = st.ms_entries;
  auto max_age_ns
    = std::chrono::duration_cast<std::chrono::nanoseconds>(opts_.dedupe_max_age)
        .count();
  cursor_guard cur;
  if (auto rc = mdb_cursor_open(txn, order_, &cur.cur); rc != 0)
    return {rc, "open cursor"};
  while (budget-- > 0) {
    MDB_val k, v;
    auto rc = mdb_cursor_get(cur.cur, &k, &v, MDB_FIRST);
    if (rc == MDB_NOTFOUND)
      break;
    if (rc != 0)
      return {rc, "read command order"};
    byte_reader r{v.mv_data, v.mv_size};
    auto ts = static_cast<int64_t>(r.u64le());
    bool too_many = count > opts_.dedupe_max_entries;
    bool too_old = r.ok() && now - ts > max_age_ns;
    if (!too_many && !too_old && r.ok())
      break;
    if (v.mv_size > 8) {
      MDB_val ck{v.mv_size - 8, static_cast<char*>(v.mv_data) + 8};
      rc = mdb_del(txn, commands_, &ck, nullptr);
      if (rc != 0 && rc != MDB_NOTFOUND)
        return {rc, "evict command id"};
    }
    if ((rc = mdb_cursor_del(cur.cur, 0)) != 0)
      return {rc, "evict command order"};
    --count;
  }
  return {};
}

lmdb_failure lmdb_journal::prune_snapshots(MDB_txn* txn,
                                           const std::string& skey) {
  cursor_guard cur;
  if (auto rc = mdb_cursor_open(txn, snapshots_, &cur.cur); rc != 0)
    return {rc, "open cursor"};
  auto probe = stream_rev_key(skey, std::numeric_limits<uint64_t>::max());
  MDB_val k = to_val(probe), v;
  auto rc = mdb_cursor_get(cur.cur, &k, &v, MDB_SET_RANGE);
  if (rc == 0)
    rc = mdb_cursor_get(cur.cur, &k, &v, MDB_PREV);
  else if (rc == MDB_NOTFOUND)
    rc = mdb_cursor_get(cur.cur, &k, &v, MDB_LAST);
  uint32_t seen = 0;
  auto keep = std::max<uint32_t>(1, opts_.snapshots_kept);
  while (rc == 0) {
    auto key = to_view(k);
    if (key.size() != skey.size() + 8 || !starts_with(key, skey))
      break;
    if (++seen > keep) {
      if ((rc = mdb_cursor_del(cur.cur, 0)) != 0)
        return {rc, "prune snapshot"};
      // After a delete the cursor sits on the next (newer) entry.
      rc = mdb_cursor_get(cur.cur, &k, &v, MDB_GET_CURRENT);
      if (rc == 0)
        rc = mdb_cursor_get(cur.cur, &k, &v, MDB_PREV);
      else
        rc = mdb_cursor_get(cur.cur, &k, &v, MDB_LAST);
      continue;
    }
    rc = mdb_cursor_get(cur.cur, &k, &v, MDB_PREV);
  }
  if (rc != 0 && rc != MDB_NOTFOUND)
    return {rc, "scan snapshots"};
  return {};
}

lmdb_failure lmdb_journal::try_commit(const write_batch& batch,
                                      batch_result& out) {
  out.appends.clear();
  out.appends.reserve(batch.appends.size());
  txn_guard txn;
  if (auto rc = mdb_txn_begin(env_, nullptr, 0, &txn.txn); rc != 0) {
    txn.txn = nullptr;
    return {rc, "begin write transaction"};
  }
  cursor_guard streams, log;
  if (auto rc = mdb_cursor_open(txn.txn, streams_, &streams.cur); rc != 0)
    return {rc, "open cursor"};
  if (auto rc = mdb_cursor_open(txn.txn, log_, &log.cur); rc != 0)
    return {rc, "open cursor"};
  auto now = now_ns();
  auto order = next_order_;
  std::size_t new_commands = 0;
  std::unordered_map<partition_id, position> part_end;
  std::unordered_map<partition_id, uint64_t> part_epoch;
  for (const auto& req : batch.appends) {
    if (auto err = validate(req, opts_)) {
      out.appends.emplace_back(std::move(err));
      continue;
    }
    auto skey = stream_key(req.stream);
    auto p = partition_of(req.stream, partitions_);
    std::string ckey;
    bool lookup = !req.command_id.empty();
#ifdef ANNALS_PLANTED_BUGS
    if (planted::bug("no_dedupe"))
      lookup = false;
#endif
    if (!req.command_id.empty())
      ckey = skey + req.command_id;
    if (lookup) {
      MDB_val k = to_val(ckey), v;
      auto rc = mdb_get(txn.txn, commands_, &k, &v);
      if (rc == 0) {
        command_entry ce;
        if (!decode_command(to_view(v), ce)) {
          out.appends.emplace_back(
            make_error(journal_errc::corrupt_record,
                       "dedupe entry of stream " + to_string(req.stream)
                         + " command " + req.command_id + " is malformed"));
          continue;
        }
        out.appends.emplace_back(
          append_result{ce.partition, ce.first_revision, ce.last_revision,
                        ce.first_position, ce.last_position, true});
        continue;
      }
      if (rc != MDB_NOTFOUND)
        return {rc, "look up command id"};
    }
    // Fencing: a writer with an older epoch than the partition's is stale.
    if (req.epoch != 0) {
      auto it = part_epoch.find(p);
      if (it == part_epoch.end()) {
        auto ek = u32be_key(p);
        MDB_val k = to_val(ek), v;
        uint64_t current = 0;
        auto rc = mdb_get(txn.txn, epochs_, &k, &v);
        if (rc == 0) {
          byte_reader r{v.mv_data, v.mv_size};
          current = r.u64le();
        } else if (rc != MDB_NOTFOUND) {
          return {rc, "read partition epoch"};
        }
        it = part_epoch.emplace(p, current).first;
      }
      bool stale = req.epoch < it->second;
#ifdef ANNALS_PLANTED_BUGS
      if (planted::bug("no_fencing"))
        stale = false;
#endif
      if (stale) {
        out.appends.emplace_back(make_error(
          journal_errc::stale_epoch,
          "stream " + to_string(req.stream) + ": epoch "
            + std::to_string(req.epoch) + " is older than partition "
            + std::to_string(p) + "'s epoch " + std::to_string(it->second)));
        continue;
      }
      if (req.epoch > it->second) {
        auto ek = u32be_key(p);
        std::string ev;
        byte_writer{ev}.u64le(req.epoch);
        MDB_val k = to_val(ek), v = to_val(ev);
        if (auto rc = mdb_put(txn.txn, epochs_, &k, &v, 0); rc != 0)
          return {rc, "write partition epoch"};
        it->second = req.epoch;
      }
    }
    revision last = 0;
    if (auto f = last_revision_in(streams.cur, skey, last); f.rc != 0)
      return f;
    if (!req.expected.admits(last)) {
      out.appends.emplace_back(make_conflict_error(
        "stream " + to_string(req.stream) + ": expected revision "
          + to_string(req.expected) + ", actual " + std::to_string(last),
        last));
      continue;
    }
    auto pe = part_end.find(p);
    if (pe == part_end.end()) {
      position end = 0;
      if (auto f = partition_end_in(log.cur, p, end); f.rc != 0)
        return f;
      pe = part_end.emplace(p, end).first;
    }
    auto first_pos = pe->second + 1;
    auto n = req.events.size();
    for (std::size_t j = 0; j < n; ++j) {
      const auto& ev = req.events[j];
      encode_record(record_view{req.stream, last + 1 + j, p, first_pos + j,
                                ev.timestamp_ns != 0 ? ev.timestamp_ns : now,
                                req.epoch, ev.schema_version, ev.type,
                                req.command_id, ev.correlation_id,
                                ev.causation_id, ev.payload},
                    scratch_);
      auto lk = log_key(p, first_pos + j);
      MDB_val k = to_val(lk), v = to_val(scratch_);
      if (auto rc = mdb_cursor_put(log.cur, &k, &v, MDB_NOOVERWRITE); rc != 0)
        return {rc, "append to partition " + std::to_string(p)};
    }
    auto ik = stream_rev_key(skey, last + n);
    auto iv = encode_range(stream_range{p, first_pos, last + 1});
    MDB_val k = to_val(ik), v = to_val(iv);
    if (auto rc = mdb_cursor_put(streams.cur, &k, &v, MDB_NOOVERWRITE); rc != 0)
      return {rc, "index stream " + to_string(req.stream)};
    pe->second = first_pos + n - 1;
    append_result res{p,         last + 1,          last + n,
                      first_pos, first_pos + n - 1, false};
    if (!ckey.empty()) {
      auto cv = encode_command(
        command_entry{p, res.first_revision, res.last_revision,
                      res.first_position, res.last_position, now, order});
      MDB_val ck = to_val(ckey), cvv = to_val(cv);
      if (auto rc = mdb_put(txn.txn, commands_, &ck, &cvv, 0); rc != 0)
        return {rc, "remember command id"};
      std::string okey = u64be_key(order), oval;
      byte_writer{oval}.u64le(static_cast<uint64_t>(now));
      oval += ckey;
      MDB_val okv = to_val(okey), ovv = to_val(oval);
      if (auto rc = mdb_put(txn.txn, order_, &okv, &ovv, MDB_APPEND); rc != 0)
        return {rc, "queue command id"};
      ++order;
      ++new_commands;
    }
    out.appends.emplace_back(res);
  }
  for (const auto& snap : batch.snapshots) {
    auto skey = stream_key(snap.stream);
    encode_snapshot(snap, scratch_);
    auto sk = stream_rev_key(skey, snap.rev);
    MDB_val k = to_val(sk), v = to_val(scratch_);
    if (auto rc = mdb_put(txn.txn, snapshots_, &k, &v, 0); rc != 0)
      return {rc, "save snapshot of " + to_string(snap.stream)};
    if (auto f = prune_snapshots(txn.txn, skey); f.rc != 0)
      return f;
  }
  for (const auto& cp : batch.checkpoints) {
    auto ck = checkpoint_key(cp.consumer, cp.partition);
    std::string cv;
    byte_writer{cv}.u64le(cp.pos);
    MDB_val k = to_val(ck), v = to_val(cv);
    if (auto rc = mdb_put(txn.txn, checkpoints_, &k, &v, 0); rc != 0)
      return {rc, "save checkpoint of " + cp.consumer};
  }
  for (const auto& fence : batch.fences) {
    auto ek = u32be_key(fence.partition);
    MDB_val k = to_val(ek), v;
    uint64_t current = 0;
    auto rc = mdb_get(txn.txn, epochs_, &k, &v);
    if (rc == 0) {
      byte_reader r{v.mv_data, v.mv_size};
      current = r.u64le();
    } else if (rc != MDB_NOTFOUND) {
      return {rc, "read partition epoch"};
    }
    if (fence.epoch > current) {
      std::string ev;
      byte_writer{ev}.u64le(fence.epoch);
      MDB_val nv = to_val(ev);
      if (auto rc2 = mdb_put(txn.txn, epochs_, &k, &nv, 0); rc2 != 0)
        return {rc2, "write partition epoch"};
    }
  }
  for (const auto& mw : batch.models) {
    auto mk = model_key(mw.model, mw.key);
    MDB_val k = to_val(mk);
    if (mw.erase) {
      auto rc = mdb_del(txn.txn, models_, &k, nullptr);
      if (rc != 0 && rc != MDB_NOTFOUND)
        return {rc, "erase from model " + mw.model};
    } else {
      MDB_val v = to_val(mw.value);
      if (auto rc = mdb_put(txn.txn, models_, &k, &v, 0); rc != 0)
        return {rc, "write model " + mw.model};
    }
  }
  if (auto f = evict_commands(txn.txn, now, new_commands + 64); f.rc != 0)
    return f;
  mdb_cursor_close(streams.cur);
  streams.cur = nullptr;
  mdb_cursor_close(log.cur);
  log.cur = nullptr;
  ANNALS_CRASH_POINT("annals/journal/before_commit");
  if (auto rc = txn.commit(); rc != 0)
    return {rc, "commit"};
  ANNALS_CRASH_POINT("annals/journal/after_commit");
  next_order_ = order;
  return {};
}

caf::expected<bool> lmdb_journal::grow_map() {
  std::unique_lock guard{resize_mtx_};
  MDB_envinfo info;
  if (auto rc = mdb_env_info(env_, &info); rc != 0)
    return lmdb_error(rc, "read map size");
  uint64_t cur = info.me_mapsize;
  if (cur >= opts_.max_map_bytes)
    return false;
  auto next = std::min<uint64_t>(opts_.max_map_bytes, cur * 2);
  if (auto rc = mdb_env_set_mapsize(env_, next); rc != 0)
    return lmdb_error(rc, "grow map to " + std::to_string(next) + " bytes");
  return true;
}

caf::expected<batch_result> lmdb_journal::commit(const write_batch& batch) {
  if (mode_ == access::read_only)
    return make_error(journal_errc::read_only,
                      "journal in " + dir_
                        + " is open read-only; nothing was written");
  std::lock_guard guard{write_mtx_};
  if (failed_)
    return make_error(journal_errc::failed,
                      "journal in " + dir_
                        + " refuses writes after an earlier failure: "
                        + describe(failure_));
  if (auto err = validate_whole(batch, opts_, partitions_))
    return err;
  batch_result out;
  for (;;) {
    lmdb_failure f;
    {
      std::shared_lock rl{resize_mtx_};
      f = try_commit(batch, out);
    }
    if (f.rc == 0) {
      ++commits_;
      return out;
    }
    if (f.rc == MDB_MAP_FULL) {
      auto grown = grow_map();
      if (!grown)
        return fail(std::move(grown.error()));
      if (*grown)
        continue;
      return make_error(journal_errc::journal_full,
                        "journal in " + dir_ + " reached max_map_bytes ("
                          + std::to_string(opts_.max_map_bytes)
                          + "); batch rolled back");
    }
    if (f.rc == MDB_TXN_FULL)
      return make_error(journal_errc::too_large,
                        "batch dirties more pages than one LMDB transaction "
                        "holds; split it");
    return fail(lmdb_error(f.rc, f.what + " in " + dir_));
  }
}

// -- reading ------------------------------------------------------------------

caf::error lmdb_journal::scan_stream(const stream_id& stream, revision from,
                                     const event_visitor& f) const {
  return with_read_txn([&](MDB_txn* txn) -> caf::error {
    from = std::max<revision>(from, 1);
    auto skey = stream_key(stream);
    cursor_guard idx, log;
    if (auto rc = mdb_cursor_open(txn, streams_, &idx.cur); rc != 0)
      return lmdb_error(rc, "open cursor");
    if (auto rc = mdb_cursor_open(txn, log_, &log.cur); rc != 0)
      return lmdb_error(rc, "open cursor");
    auto probe = stream_rev_key(skey, from);
    MDB_val k = to_val(probe), v;
    auto rc = mdb_cursor_get(idx.cur, &k, &v, MDB_SET_RANGE);
    auto where = [&](revision r) {
      return "stream " + to_string(stream) + " revision " + std::to_string(r);
    };
    event_view ev;
    while (rc == 0) {
      auto key = to_view(k);
      if (key.size() != skey.size() + 8 || !starts_with(key, skey))
        break;
      auto last = suffix_u64be(key);
      stream_range range;
      if (!decode_range(to_view(v), range) || range.first_revision > last)
        return make_error(journal_errc::corrupt_record,
                          where(last) + ": malformed stream index entry");
      auto r = std::max(from, range.first_revision);
      auto pos = range.first_position + (r - range.first_revision);
      auto lk = log_key(range.partition, pos);
      MDB_val lkv = to_val(lk), lv;
      auto lrc = mdb_cursor_get(log.cur, &lkv, &lv, MDB_SET_KEY);
      for (; r <= last; ++r, ++pos) {
        if (lrc != 0 && lrc != MDB_NOTFOUND)
          return lmdb_error(lrc, where(r));
        partition_id kp = 0;
        position kpos = 0;
        if (lrc == MDB_NOTFOUND || !parse_log_key(to_view(lkv), kp, kpos)
            || kp != range.partition || kpos != pos)
          return make_error(journal_errc::corrupt_record,
                            where(r) + ": record missing at partition "
                              + std::to_string(range.partition) + " position "
                              + std::to_string(pos));
        if (auto fault = decode_record_view(lv.mv_data, lv.mv_size, ev);
            fault != record_fault::none)
          return record_error(fault, lv.mv_size, where(r));
        if (ev.rev != r || ev.pos != pos || ev.partition != kp
            || ev.category != stream.category || ev.id != stream.id)
          return make_error(
            journal_errc::corrupt_record,
            where(r) + ": record at partition " + std::to_string(kp)
              + " position " + std::to_string(pos) + " holds "
              + std::string{ev.category} + "/" + std::string{ev.id}
              + " revision " + std::to_string(ev.rev));
        if (!f(ev))
          return caf::error{};
        lrc = mdb_cursor_get(log.cur, &lkv, &lv, MDB_NEXT);
      }
      from = last + 1;
      rc = mdb_cursor_get(idx.cur, &k, &v, MDB_NEXT);
    }
    if (rc != 0 && rc != MDB_NOTFOUND)
      return lmdb_error(rc, "read stream index of " + to_string(stream));
    return caf::error{};
  });
}

caf::error lmdb_journal::scan_partition(partition_id p, position from,
                                        const event_visitor& f) const {
  if (p >= partitions_)
    return make_error(journal_errc::invalid_argument,
                      "partition " + std::to_string(p) + " out of range");
  return with_read_txn([&](MDB_txn* txn) -> caf::error {
    from = std::max<position>(from, 1);
    cursor_guard log;
    if (auto rc = mdb_cursor_open(txn, log_, &log.cur); rc != 0)
      return lmdb_error(rc, "open cursor");
    auto probe = log_key(p, from);
    MDB_val k = to_val(probe), v;
    auto rc = mdb_cursor_get(log.cur, &k, &v, MDB_SET_RANGE);
    auto expect = from;
    auto where = [&](position pos) {
      return "partition " + std::to_string(p) + " position "
             + std::to_string(pos);
    };
    event_view ev;
    while (rc == 0) {
      partition_id kp;
      position kpos;
      if (!parse_log_key(to_view(k), kp, kpos))
        return make_error(journal_errc::corrupt_record,
                          "partition " + std::to_string(p)
                            + ": malformed log key");
      if (kp != p)
        break;
      if (kpos != expect)
        return make_error(journal_errc::corrupt_record,
                          where(kpos) + ": gap, expected position "
                            + std::to_string(expect));
      if (auto fault = decode_record_view(v.mv_data, v.mv_size, ev);
          fault != record_fault::none)
        return record_error(fault, v.mv_size, where(kpos));
      if (ev.partition != p || ev.pos != kpos)
        return make_error(journal_errc::corrupt_record,
                          where(kpos) + ": record claims partition "
                            + std::to_string(ev.partition) + " position "
                            + std::to_string(ev.pos));
      if (!f(ev))
        return caf::error{};
      ++expect;
      rc = mdb_cursor_get(log.cur, &k, &v, MDB_NEXT);
    }
    if (rc != 0 && rc != MDB_NOTFOUND)
      return lmdb_error(rc, "read partition " + std::to_string(p));
    return caf::error{};
  });
}

caf::expected<std::optional<append_result>>
lmdb_journal::find_command(const stream_id& stream,
                           const std::string& command_id) const {
  return with_read_txn(
    [&](MDB_txn* txn) -> caf::expected<std::optional<append_result>> {
      auto ckey = stream_key(stream) + command_id;
      MDB_val k = to_val(ckey), v;
      auto rc = mdb_get(txn, commands_, &k, &v);
#ifdef ANNALS_PLANTED_BUGS
      if (planted::bug("no_dedupe"))
        rc = MDB_NOTFOUND;
#endif
      if (rc == MDB_NOTFOUND)
        return std::optional<append_result>{};
      if (rc != 0)
        return lmdb_error(rc, "look up command id");
      command_entry ce;
      if (!decode_command(to_view(v), ce))
        return make_error(journal_errc::corrupt_record,
                          "dedupe entry of stream " + to_string(stream)
                            + " command " + command_id + " is malformed");
      return std::optional<append_result>{
        append_result{ce.partition, ce.first_revision, ce.last_revision,
                      ce.first_position, ce.last_position, true}};
    });
}

caf::expected<revision>
lmdb_journal::last_revision(const stream_id& stream) const {
  return with_read_txn([&](MDB_txn* txn) -> caf::expected<revision> {
    cursor_guard idx;
    if (auto rc = mdb_cursor_open(txn, streams_, &idx.cur); rc != 0)
      return lmdb_error(rc, "open cursor");
    revision last = 0;
    if (auto f = last_revision_in(idx.cur, stream_key(stream), last); f.rc)
      return lmdb_error(f.rc, f.what);
    return last;
  });
}

caf::expected<std::vector<position>> lmdb_journal::partition_ends() const {
  return with_read_txn(
    [&](MDB_txn* txn) -> caf::expected<std::vector<position>> {
      cursor_guard log;
      if (auto rc = mdb_cursor_open(txn, log_, &log.cur); rc != 0)
        return lmdb_error(rc, "open cursor");
      std::vector<position> out(partitions_, 0);
      for (partition_id p = 0; p < partitions_; ++p)
        if (auto f = partition_end_in(log.cur, p, out[p]); f.rc)
          return lmdb_error(f.rc, f.what);
      return out;
    });
}

caf::expected<uint64_t> lmdb_journal::partition_epoch(partition_id p) const {
  return with_read_txn([&](MDB_txn* txn) -> caf::expected<uint64_t> {
    auto ek = u32be_key(p);
    MDB_val k = to_val(ek), v;
    auto rc = mdb_get(txn, epochs_, &k, &v);
    if (rc == MDB_NOTFOUND)
      return uint64_t{0};
    if (rc != 0)
      return lmdb_error(rc, "read partition epoch");
    byte_reader r{v.mv_data, v.mv_size};
    return r.u64le();
  });
}

caf::expected<std::optional<snapshot>>
lmdb_journal::load_snapshot(const stream_id& stream, revision at_most) const {
  return with_read_txn(
    [&](MDB_txn* txn) -> caf::expected<std::optional<snapshot>> {
      auto skey = stream_key(stream);
      cursor_guard cur;
      if (auto rc = mdb_cursor_open(txn, snapshots_, &cur.cur); rc != 0)
        return lmdb_error(rc, "open cursor");
      auto probe = stream_rev_key(skey, at_most);
      MDB_val k = to_val(probe), v;
      auto rc = mdb_cursor_get(cur.cur, &k, &v, MDB_SET_RANGE);
      if (rc == 0 && to_view(k) != probe)
        rc = mdb_cursor_get(cur.cur, &k, &v, MDB_PREV);
      else if (rc == MDB_NOTFOUND)
        rc = mdb_cursor_get(cur.cur, &k, &v, MDB_LAST);
      if (rc == MDB_NOTFOUND)
        return std::optional<snapshot>{};
      if (rc != 0)
        return lmdb_error(rc, "read snapshots");
      auto key = to_view(k);
      if (key.size() != skey.size() + 8 || !starts_with(key, skey))
        return std::optional<snapshot>{};
      auto rev = suffix_u64be(key);
      auto where = "snapshot of stream " + to_string(stream) + " revision "
                   + std::to_string(rev);
      auto snap = decode_snapshot(v.mv_data, v.mv_size, where);
      if (!snap)
        return std::move(snap.error());
      if (snap->rev != rev || snap->stream != stream)
        return make_error(journal_errc::corrupt_snapshot,
                          where + ": record belongs to another key");
      return std::optional<snapshot>{std::move(*snap)};
    });
}

caf::expected<std::optional<position>>
lmdb_journal::load_checkpoint(const std::string& consumer,
                              partition_id p) const {
  return with_read_txn(
    [&](MDB_txn* txn) -> caf::expected<std::optional<position>> {
      auto ck = checkpoint_key(consumer, p);
      MDB_val k = to_val(ck), v;
      auto rc = mdb_get(txn, checkpoints_, &k, &v);
      if (rc == MDB_NOTFOUND)
        return std::optional<position>{};
      if (rc != 0)
        return lmdb_error(rc, "read checkpoint of " + consumer);
      byte_reader r{v.mv_data, v.mv_size};
      auto pos = r.u64le();
      if (!r.ok())
        return make_error(journal_errc::corrupt_record,
                          "checkpoint of " + consumer + " is malformed");
      return std::optional<position>{pos};
    });
}

caf::expected<std::optional<std::string>>
lmdb_journal::load_model(const std::string& model,
                         const std::string& key) const {
  return with_read_txn(
    [&](MDB_txn* txn) -> caf::expected<std::optional<std::string>> {
      auto mk = model_key(model, key);
      MDB_val k = to_val(mk), v;
      auto rc = mdb_get(txn, models_, &k, &v);
      if (rc == MDB_NOTFOUND)
        return std::optional<std::string>{};
      if (rc != 0)
        return lmdb_error(rc, "read model " + model);
      return std::optional<std::string>{std::string{to_view(v)}};
    });
}

caf::error lmdb_journal::scan_model(const std::string& model,
                                    const model_visitor& f) const {
  return with_read_txn([&](MDB_txn* txn) -> caf::error {
    auto prefix = model_key(model, "");
    cursor_guard cur;
    if (auto rc = mdb_cursor_open(txn, models_, &cur.cur); rc != 0)
      return lmdb_error(rc, "open cursor");
    MDB_val k = to_val(prefix), v;
    auto rc = mdb_cursor_get(cur.cur, &k, &v, MDB_SET_RANGE);
    while (rc == 0) {
      auto key = to_view(k);
      if (!starts_with(key, prefix))
        break;
      if (!f(key.substr(prefix.size()), to_view(v)))
        return caf::error{};
      rc = mdb_cursor_get(cur.cur, &k, &v, MDB_NEXT);
    }
    if (rc != 0 && rc != MDB_NOTFOUND)
      return lmdb_error(rc, "scan model " + model);
    return caf::error{};
  });
}

caf::error lmdb_journal::scan_checkpoints(const checkpoint_visitor& f) const {
  return with_read_txn([&](MDB_txn* txn) -> caf::error {
    cursor_guard cur;
    if (auto rc = mdb_cursor_open(txn, checkpoints_, &cur.cur); rc != 0)
      return lmdb_error(rc, "open cursor");
    MDB_val k, v;
    auto rc = mdb_cursor_get(cur.cur, &k, &v, MDB_FIRST);
    while (rc == 0) {
      // Key: u16be |consumer| consumer u32be partition (checkpoint_key).
      byte_reader kr{k.mv_data, k.mv_size};
      std::size_t len = kr.u16be();
      auto* base = static_cast<const char*>(k.mv_data);
      std::string_view name;
      if (kr.ok() && k.mv_size == 2 + len + 4)
        name = std::string_view{base + 2, len};
      else
        return make_error(journal_errc::corrupt_record,
                          "a checkpoint key is malformed");
      byte_reader pr{base + 2 + len, 4};
      auto p = pr.u32be();
      byte_reader vr{v.mv_data, v.mv_size};
      auto pos = vr.u64le();
      if (!kr.ok() || !vr.ok())
        return make_error(journal_errc::corrupt_record,
                          "a checkpoint entry is malformed");
      if (!f(name, p, pos))
        return caf::error{};
      rc = mdb_cursor_get(cur.cur, &k, &v, MDB_NEXT);
    }
    if (rc != MDB_NOTFOUND)
      return lmdb_error(rc, "scan checkpoints");
    return caf::error{};
  });
}

// -- maintenance --------------------------------------------------------------

caf::expected<verify_report> lmdb_journal::verify() const {
  return with_read_txn([&](MDB_txn* txn) -> caf::expected<verify_report> {
    verify_report rep;
    auto problem = [&](std::string text) {
      if (rep.problems.size() < 100)
        rep.problems.push_back(std::move(text));
    };
    // 1. Every record: checksum, key agreement, gap-free positions, and
    //    gap-free revisions per stream (a partition orders its streams).
    std::map<std::string, revision> heads;
    {
      cursor_guard cur;
      if (auto rc = mdb_cursor_open(txn, log_, &cur.cur); rc != 0)
        return lmdb_error(rc, "open cursor");
      MDB_val k, v;
      auto rc = mdb_cursor_get(cur.cur, &k, &v, MDB_FIRST);
      partition_id cur_p = 0;
      position expect = 1;
      bool any = false;
      while (rc == 0) {
        partition_id p;
        position pos;
        if (!parse_log_key(to_view(k), p, pos)) {
          problem("log: malformed key of " + std::to_string(k.mv_size)
                  + " bytes");
          rc = mdb_cursor_get(cur.cur, &k, &v, MDB_NEXT);
          continue;
        }
        if (!any || p != cur_p) {
          cur_p = p;
          expect = 1;
          any = true;
          ++rep.partitions_used;
        }
        auto where = "partition " + std::to_string(p) + " position "
                     + std::to_string(pos);
        if (p >= partitions_)
          problem(where + ": partition out of range");
        if (pos != expect)
          problem(where + ": gap, expected position " + std::to_string(expect));
        expect = pos + 1;
        auto ev = decode_record(v.mv_data, v.mv_size, where);
        ++rep.events;
        if (!ev) {
          problem(describe(ev.error()));
        } else {
          if (ev->partition != p || ev->pos != pos)
            problem(where + ": record claims partition "
                    + std::to_string(ev->partition) + " position "
                    + std::to_string(ev->pos));
          if (partition_of(ev->stream, partitions_) != p)
            problem(where + ": stream " + to_string(ev->stream)
                    + " belongs to another partition");
          auto& head = heads[stream_key(ev->stream)];
          if (ev->rev != head + 1)
            problem("stream " + to_string(ev->stream) + " revision "
                    + std::to_string(ev->rev) + ": expected revision "
                    + std::to_string(head + 1));
          head = ev->rev;
        }
        rc = mdb_cursor_get(cur.cur, &k, &v, MDB_NEXT);
      }
      if (rc != MDB_NOTFOUND)
        return lmdb_error(rc, "scan log");
    }
    rep.streams = heads.size();
    // 2. The stream index: ranges tile each stream's revisions from 1 and
    //    end at the stream's last record.
    {
      cursor_guard cur;
      if (auto rc = mdb_cursor_open(txn, streams_, &cur.cur); rc != 0)
        return lmdb_error(rc, "open cursor");
      MDB_val k, v;
      auto rc = mdb_cursor_get(cur.cur, &k, &v, MDB_FIRST);
      std::string cur_stream;
      revision prev_last = 0;
      auto close_stream = [&] {
        if (cur_stream.empty())
          return;
        auto it = heads.find(cur_stream);
        auto have = it == heads.end() ? 0 : it->second;
        if (have != prev_last)
          problem("stream index ends at revision " + std::to_string(prev_last)
                  + " but the log holds " + std::to_string(have));
        if (it != heads.end())
          heads.erase(it);
      };
      while (rc == 0) {
        auto key = to_view(k);
        if (key.size() < 12) {
          problem("stream index: malformed key");
        } else {
          auto skey = std::string{key.substr(0, key.size() - 8)};
          auto last = suffix_u64be(key);
          if (skey != cur_stream) {
            close_stream();
            cur_stream = skey;
            prev_last = 0;
          }
          stream_range range;
          if (!decode_range(to_view(v), range)
              || range.first_revision != prev_last + 1
              || range.first_revision > last)
            problem("stream index entry ending at revision "
                    + std::to_string(last) + " does not follow revision "
                    + std::to_string(prev_last));
          prev_last = last;
        }
        rc = mdb_cursor_get(cur.cur, &k, &v, MDB_NEXT);
      }
      if (rc != MDB_NOTFOUND)
        return lmdb_error(rc, "scan stream index");
      close_stream();
      for (auto& [skey, head] : heads)
        problem("a stream with " + std::to_string(head)
                + " events has no index entry");
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
    return rep;
  });
}

caf::expected<journal_stats> lmdb_journal::stats() const {
  return with_read_txn([&](MDB_txn* txn) -> caf::expected<journal_stats> {
    journal_stats st;
    st.partitions = partitions_;
    MDB_stat s;
    if (auto rc = mdb_stat(txn, log_, &s); rc != 0)
      return lmdb_error(rc, "stat");
    st.events = s.ms_entries;
    if (auto rc = mdb_stat(txn, streams_, &s); rc != 0)
      return lmdb_error(rc, "stat");
    st.stream_index_entries = s.ms_entries;
    if (auto rc = mdb_stat(txn, snapshots_, &s); rc != 0)
      return lmdb_error(rc, "stat");
    st.snapshots = s.ms_entries;
    if (auto rc = mdb_stat(txn, commands_, &s); rc != 0)
      return lmdb_error(rc, "stat");
    st.remembered_commands = s.ms_entries;
    MDB_envinfo info;
    mdb_env_info(env_, &info);
    MDB_stat es;
    mdb_env_stat(env_, &es);
    st.map_bytes = info.me_mapsize;
    st.used_bytes = (info.me_last_pgno + 1) * uint64_t{es.ms_psize};
    st.commits = commits_;
    return st;
  });
}

} // namespace

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
