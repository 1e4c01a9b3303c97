// annals -- event-sourced aggregates on the C++ Actor Framework.
// The LMDB journal (format 2), shared by its source files:
// lmdb_journal.cpp (opening, the tail's rebuild), lmdb_journal_write.cpp,
// lmdb_journal_truncate.cpp, lmdb_journal_read.cpp, lmdb_journal_verify.cpp.
//
// Key layout (integers in keys big-endian so
// that LMDB's byte order is numeric order; see persistence/README.md):
//
//   meta            "format" -> u32, "partitions" -> u32, "incarnation" ->
//                   32 hex digits, "indexed_through" -> u64 sequence number
//   log             u64 sequence -> event record (CRC32C), in commit order
//   stream_index    stream key, u64 last revision -> index entry
//   partition_index u32 partition, u64 last position -> index entry
//   snapshots       stream key, u64 revision -> snapshot record (CRC32C)
//   checkpoints     consumer, u32 partition -> u64 position
//   models          model, key -> value
//   epochs          u32 partition -> u64 highest writer epoch (the fence)
//   lineage         u32 partition, u64 epoch -> u64 first position
//
// Why this layout. Every event goes to ONE growth point: the log, keyed by
// a sequence number in commit order (MDB_APPEND), so a group commit of N
// events to N random streams dirties about N/35 log pages instead of one
// partition tail and one stream-index page per event (format 1: 1024
// partitions = 1024 growth points, 2.3 pages per event at 10^4 streams).
// The stream and partition indexes map revisions (positions) to sequence
// numbers. Their entries are kept in memory first (`index_tail`) and
// written behind the log in bulk: each commit also writes the entries of
// the streams and partitions whose runs have waited longest, so that one
// index page write carries many entries. An entry lists the sequence
// numbers of consecutive revisions run-length coded: a stream written by
// one hot aggregate costs a few bytes per commit.
//
// Dedupe. Command ids are not indexed on disk: each record carries its
// append's command id, and the window is per stream (its last
// `dedupe_window` events), so a stream's recent ids are read from its own
// events and kept in an LRU cache (`dedupe_cache`). Deduplication costs no
// page write and holds at any throughput and age.
//
// Crash safety. The log is the truth; the indexes are derived. `meta`'s
// "indexed_through" is a sequence number such that every event before it
// is in both durable indexes; it is written in the same transaction as the
// entries that advance it. At open the tail is rebuilt by scanning the log
// from there and skipping what each stream's and partition's durable index
// already covers; a crash between a commit and its index flush therefore
// loses nothing (tests/persistence/journal_crash and journal_failpoint).
//
// Readers. A read runs one LMDB read transaction and combines the durable
// index it sees with a copy of the tail's run for its stream (partition),
// taken under `tail_mtx_` (shared) together with the transaction's begin.
// The writer changes the tail only after its commit, under the exclusive
// lock. So a reader's copy never lacks an entry its transaction's durable
// index lacks; where both hold an entry (a flush committed, the tail not yet
// pruned), the durable one wins. A read-only journal of another process has
// no tail: it rebuilds one from its transaction's log each time.
//
// Concurrency: `write_mtx_` serialises writes (one LMDB writer). Readers
// run read-only transactions (MDB_NOTLS, so any thread) under a shared lock
// on `resize_mtx_`; growing the map takes it exclusively because
// mdb_env_set_mapsize must not run while this process has transactions open.
// Read-only journals (open_lmdb_journal_read_only) open the environment with
// MDB_RDONLY and without the directory's flock; when the writer of another
// process grows the map, mdb_txn_begin returns MDB_MAP_RESIZED and the
// reader adopts the new size (mdb_env_set_mapsize(env, 0)) and begins again.
#pragma once

#include "annals/failpoint.hpp"
#include "annals/persistence/journal.hpp"

#include "codec.hpp"
#include "dedupe_cache.hpp"
#include "dir_lock.hpp"
#include "index_tail.hpp"
#include "lmdb_errors.hpp"
#include "lmdb_support.hpp"

#include <lmdb.h>

#include <atomic>
#include <limits>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

namespace annals::detail {

/// A failed LMDB call inside a transaction: its code and what was done.
struct lmdb_failure {
  int rc = 0;
  std::string what;
};

/// The stream key of an event seen in place.
inline std::string stream_key_of(const event_view& ev) {
  return stream_key(stream_id{std::string{ev.category}, std::string{ev.id}});
}

/// Reads the log by sequence number: steps forward when the target is near
/// the current entry (the common case when one stream's or partition's
/// events are close), seeks otherwise.
class log_reader {
public:
  ~log_reader() {
    if (cur_ != nullptr)
      mdb_cursor_close(cur_);
  }
  int open(MDB_txn* txn, MDB_dbi log) {
    return mdb_cursor_open(txn, log, &cur_);
  }
  /// 0 with the record of `seq` in `v`, MDB_NOTFOUND if there is none.
  int at(uint64_t seq, MDB_val& v) {
    MDB_val k;
    if (here_ != 0 && seq > here_ && seq - here_ <= near) {
      for (;;) {
        auto rc = mdb_cursor_get(cur_, &k, &v, MDB_NEXT);
        if (rc != 0) {
          here_ = 0;
          return rc;
        }
        here_ = suffix_u64be(to_view(k));
        if (here_ == seq)
          return 0;
        if (here_ > seq)
          return MDB_NOTFOUND;
      }
    }
    char buf[8];
    for (int i = 0; i < 8; ++i)
      buf[i] = static_cast<char>(seq >> (56 - 8 * i));
    k = MDB_val{8, buf};
    auto rc = mdb_cursor_get(cur_, &k, &v, MDB_SET_KEY);
    here_ = rc == 0 ? seq : 0;
    return rc;
  }

private:
  static constexpr uint64_t near = 16;
  MDB_cursor* cur_ = nullptr;
  uint64_t here_ = 0;
};

/// The last number (revision or position) in the durable index entries
/// whose keys start with `prefix` (a stream key or u32be partition); 0 if
/// there are none.
lmdb_failure index_end_in(MDB_cursor* idx, std::string_view prefix,
                          uint64_t& out);

/// What a successful write transaction changes in memory afterwards.
struct commit_plan {
  struct added {
    std::size_t skey; ///< index into `skeys`
    revision rev;
    partition_id p;
    position pos;
    uint64_t seq;
  };
  std::vector<std::string> skeys;
  /// Per entry of `skeys`: its tail run as the commit found it (nullptr if
  /// none), so that `apply` extends it without another lookup.
  std::vector<tail_run*> runs;
  std::vector<added> events;
  std::vector<std::string> flushed_streams;
  std::vector<partition_id> flushed_partitions;
  std::vector<std::pair<partition_id, uint64_t>> lineage;
  /// Every committed append, for the dedupe cache: stream, head after it,
  /// command id (or empty), where it went.
  struct appended {
    std::size_t skey;
    revision head;
    std::string command_id;
    append_result where;
  };
  std::vector<appended> appends;
  uint64_t next_seq = 0;
  uint64_t indexed_through = 0;
};

/// How a journal object opened its environment.
enum class access : uint8_t { read_write, read_only };

/// Writes `run` as durable index entries under `prefix` (at most
/// `max_index_entry` numbers each).
lmdb_failure put_run(MDB_txn* txn, MDB_dbi dbi, const std::string& prefix,
                     const tail_run& run, std::string& scratch);

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
             {"stream_index", &streams_},
             {"partition_index", &parts_},
             {"snapshots", &snapshots_},
             {"checkpoints", &checkpoints_},
             {"models", &models_},
             {"epochs", &epochs_},
             {"lineage", &lineage_}}};
  }

  /// Checks the stored format version `fmt` (the meta table's "format"
  /// value) and reads the stored partition count and incarnation.
  caf::expected<uint32_t> read_meta(MDB_txn* txn, const MDB_val& fmt);

  uint32_t partition_count() const noexcept override {
    return partitions_;
  }

  caf::expected<batch_result> commit(const write_batch& batch) override;

  caf::error scan_stream(const stream_id& stream, revision from,
                         const event_visitor& f) const override;

  caf::error scan_partition(partition_id p, position from,
                            const event_visitor& f) const override;

  caf::error scan_log(uint64_t from, const log_visitor& f) const override;

  caf::expected<std::optional<uint64_t>> locate(partition_id p,
                                                position pos) const override;

  caf::expected<std::optional<append_result>>
  find_command(const stream_id& stream,
               const std::string& command_id) const override;

  caf::expected<revision> last_revision(const stream_id& stream) const override;

  caf::expected<std::vector<position>> partition_ends() const override;

  caf::expected<uint64_t> partition_epoch(partition_id p) const override;

  caf::expected<std::vector<epoch_start>>
  partition_lineage(partition_id p) const override;

  std::string incarnation() const override {
    return incarnation_;
  }

  caf::expected<uint64_t> truncate_partition(partition_id p,
                                             position after) override;

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

  /// As `with_read_txn`, but first calls `capture(txn, tail, ends)` with the
  /// tail and partition ends that belong to the transaction's view: this
  /// journal's (under the shared tail lock, taken before the transaction
  /// began) or, read-only, one rebuilt from the transaction's log.
  template <class Capture, class F>
  auto with_read_view(Capture capture, F f) const
    -> decltype(f(static_cast<MDB_txn*>(nullptr)));

  /// Rebuilds the tail and the partition ends from the log after
  /// "indexed_through". @returns `corrupt_record` for a damaged record.
  caf::error rebuild_tail(MDB_txn* txn, index_tail& tail,
                          std::vector<position>& ends,
                          uint64_t& next_seq) const;

  /// Runs one write transaction `attempt(txn)` with map growth on
  /// MDB_MAP_FULL and fail-stop on fatal errors. Caller holds `write_mtx_`.
  template <class Attempt>
  caf::error write(Attempt attempt);

  /// One attempt at committing `batch`; fills `out` and `plan`.
  lmdb_failure try_commit(MDB_txn* txn, const write_batch& batch,
                          batch_result& out, commit_plan& plan);

  /// Writes the tail runs chosen for flushing to the durable indexes.
  lmdb_failure flush_index(MDB_txn* txn, uint64_t appended, commit_plan& plan);

  /// Applies a committed plan to the in-memory state.
  void apply(commit_plan& plan);

  /// Doubles the map up to `max_map_bytes`. False if already at the limit.
  caf::expected<bool> grow_map();

  /// Last revision of the stream with key `skey` (0 if none) as the writer
  /// sees it: the tail, else the durable index.
  lmdb_failure writer_head(MDB_cursor* streams, const std::string& skey,
                           revision& out, tail_run*& run);

  /// The appends with a command id among the last `dedupe_window` events
  /// of `stream` (whose head is `head`, whose tail run is `run`), oldest
  /// first, read from the log in `txn`.
  caf::error read_window(MDB_txn* txn, const stream_id& stream,
                         const std::string& skey, revision head,
                         const tail_run& run,
                         std::vector<remembered_append>& out) const;

  /// Visits `stream`'s events from revision `from` on, each read by its
  /// sequence number and checked (checksum, stream, revision, partition);
  /// `g(event_view)` returns false to stop.
  template <class G>
  caf::error visit_stream(MDB_txn* txn, const stream_id& stream,
                          const std::string& skey, revision from,
                          const tail_run& run, G g) const;

  /// Whether revision `rev` of `stream` carries `command_id`: confirms a
  /// dedupe cache candidate (which matched a hash).
  caf::expected<bool> command_at(MDB_txn* txn, const stream_id& stream,
                                 const std::string& skey, revision rev,
                                 const tail_run& run,
                                 std::string_view command_id) const;

  lmdb_failure prune_snapshots(MDB_txn* txn, const std::string& skey);

  /// Partition `p`'s fence epoch (0 if none), and raising it.
  lmdb_failure read_epoch(MDB_txn* txn, partition_id p, uint64_t& out) const;
  lmdb_failure write_epoch(MDB_txn* txn, partition_id p, uint64_t epoch);

  /// Rewrites the durable index entries under `prefix` so that they end at
  /// `keep` (deleting later entries, shortening the one across it).
  lmdb_failure cut_index(MDB_txn* txn, MDB_dbi dbi, std::string_view prefix,
                         uint64_t keep);

  /// Visits the sequence numbers of numbers `from`.. in the durable index
  /// entries under `prefix`, then in `run` (the tail copy), in order;
  /// `g(number, seq, stop)` returns an error, or sets `stop` to end there.
  template <class G>
  caf::error walk_index(MDB_txn* txn, MDB_dbi dbi, const std::string& prefix,
                        uint64_t from, const tail_run& run,
                        const std::string& what, G g) const;

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
  MDB_dbi meta_ = 0, log_ = 0, streams_ = 0, parts_ = 0, snapshots_ = 0,
          checkpoints_ = 0, models_ = 0, epochs_ = 0, lineage_ = 0;
  uint32_t partitions_ = 0;
  std::string incarnation_;
  mutable std::shared_mutex resize_mtx_;
  std::mutex write_mtx_;
  std::atomic<bool> failed_{false};
  caf::error failure_;
  std::atomic<uint64_t> commits_{0};
  mutable dedupe_cache dedupe_{opts_.dedupe_window, opts_.dedupe_cache_bytes};
  std::string scratch_;
  std::string skey_scratch_;

  /// Per-partition state of the batch being committed; an entry is valid
  /// where `gen` equals `batch_gen_` (nothing is cleared between batches).
  struct batch_partition {
    uint64_t gen = 0;
    position end = 0; ///< after the batch's appends so far
    bool epoch_read = false;
    uint64_t epoch = 0;   ///< the partition's fence epoch
    uint64_t lineage = 0; ///< its last lineage epoch
  };
  std::vector<batch_partition> batch_parts_;
  uint64_t batch_gen_ = 0;

  // Writer state (read-write journals). `tail_` and `part_end_` change only
  // under `write_mtx_` plus `tail_mtx_` exclusively; readers copy from them
  // under `tail_mtx_` shared.
  mutable std::shared_mutex tail_mtx_;
  index_tail tail_;
  std::vector<position> part_end_;
  std::vector<uint64_t> lineage_last_; ///< last lineage epoch per partition
  uint64_t next_seq_ = 1;
  uint64_t indexed_through_ = 1;
};

template <class F>
auto lmdb_journal::with_read_txn(F f) const
  -> decltype(f(static_cast<MDB_txn*>(nullptr))) {
  return with_read_view(
    [](MDB_txn*, const index_tail&, const std::vector<position>&) {},
    std::move(f));
}

template <class Capture, class F>
auto lmdb_journal::with_read_view(Capture capture, F f) const
  -> decltype(f(static_cast<MDB_txn*>(nullptr))) {
  // A writer in another process may grow the map several times between two
  // of our reads; each round adopts its latest size, so a few suffice.
  constexpr int max_resizes = 16;
  for (int resizes = 0;; ++resizes) {
    {
      std::shared_lock guard{resize_mtx_};
      txn_guard txn;
      std::shared_lock tail_guard{tail_mtx_};
      auto rc = mdb_txn_begin(env_, nullptr, MDB_RDONLY, &txn.txn);
      if (rc == 0) {
        if (mode_ == access::read_write) {
          capture(txn.txn, tail_, part_end_);
          tail_guard.unlock();
        } else {
          tail_guard.unlock();
          index_tail tail{partitions_};
          std::vector<position> ends;
          uint64_t next_seq = 0;
          if (auto err = rebuild_tail(txn.txn, tail, ends, next_seq))
            return err;
          capture(txn.txn, tail, ends);
        }
        return f(txn.txn);
      }
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

template <class Attempt>
caf::error lmdb_journal::write(Attempt attempt) {
  for (;;) {
    lmdb_failure f;
    {
      std::shared_lock rl{resize_mtx_};
      txn_guard txn;
      if (auto rc = mdb_txn_begin(env_, nullptr, 0, &txn.txn); rc != 0) {
        txn.txn = nullptr;
        f = {rc, "begin write transaction"};
      } else {
        f = attempt(txn.txn);
        if (f.rc == 0) {
          ANNALS_CRASH_POINT("annals/journal/before_commit");
          if (auto crc = txn.commit(); crc != 0)
            f = {crc, "commit"};
        }
      }
    }
    if (f.rc == 0) {
      ANNALS_CRASH_POINT("annals/journal/after_commit");
      return {};
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

} // namespace annals::detail
