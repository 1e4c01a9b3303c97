// annals -- event-sourced aggregates on the C++ Actor Framework.
//
// Upgrading a format-1 LMDB journal in place (upgrade.hpp).
//
// Why through the public API. The new journal is written only by
// `open_lmdb_journal` + `commit`, so it is valid by construction, whatever
// its layout: the upgrade knows format 1 (format1.hpp, frozen) and nothing
// of the current format, and keeps working when that format changes again.
// Each stored append becomes one `append_request` (its boundaries come from
// the format-1 stream index, so dedupe entries and stream ranges match the
// original commands), with `expected_revision::exactly` its old predecessor,
// and its result must equal the old revisions and positions.
//
// Why in DIR/upgrade.tmp with one rename. `rename(2)` replaces `data.mdb`
// atomically, so at every instant DIR/data.mdb is the complete old file or
// the complete new one (fsynced, then verified, before the rename). The copy
// runs with `durability::unsafe_no_sync`: a crash during it loses only
// upgrade.tmp, which the next run discards; one fsync of the finished file
// replaces thousands of per-commit fsyncs.
//
// The LMDB lock file. `lock.mdb` belongs to the environment in `data.mdb`
// (its reader table and last transaction id). After the rename it must not
// be reused with the new file while any process still has it open, or that
// process's transaction ids would select the wrong meta page. Every process
// with an LMDB environment open holds a shared fcntl lock on its byte 0; the
// upgrade takes that byte exclusively around the switch (refusing if anyone
// holds it), renames, then empties and unlinks the old lock file before
// releasing it, so that an opener that raced in on the old lock file fails
// (a zero-length lock file cannot be mapped) instead of mixing the two, and
// every later opener creates a fresh lock file for the new environment.

#include "annals/persistence/upgrade.hpp"

#include "annals/failpoint.hpp"
#include "annals/persistence/journal.hpp"

#include "codec.hpp"
#include "dir_lock.hpp"
#include "format1.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <limits>
#include <set>
#include <utility>

namespace annals {

namespace {

using detail::format1::stored_append;

/// Appends per commit while copying, and payload bytes per commit: large
/// enough that commit overhead vanishes, small enough to bound memory.
constexpr std::size_t batch_appends = 1024;
constexpr std::size_t batch_bytes = std::size_t{8} << 20;

std::string errno_text(const std::string& what) {
  return what + ": " + std::strerror(errno);
}

/// fsync(2) of a file or directory.
caf::error sync_path(const std::string& path, bool directory) {
  int fd = ::open(path.c_str(),
                  O_RDONLY | O_CLOEXEC | (directory ? O_DIRECTORY : 0));
  if (fd < 0)
    return make_error(journal_errc::io_error, errno_text("open " + path));
  auto rc = ::fsync(fd);
  auto err = errno;
  ::close(fd);
  if (rc != 0) {
    errno = err;
    return make_error(journal_errc::io_error, errno_text("fsync " + path));
  }
  return {};
}

/// An exclusive fcntl lock on byte 0 of `dir/lock.mdb`, where every process
/// with the LMDB environment open holds a shared one. Closing it releases it.
class env_exclusive {
public:
  /// @returns `locked` naming the pid of a process that has the environment
  ///          open; an object holding nothing if there is no lock file.
  static caf::expected<env_exclusive> acquire(const std::string& dir) {
    auto path = dir + "/lock.mdb";
    int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) {
      if (errno == ENOENT)
        return env_exclusive{-1};
      return make_error(journal_errc::io_error, errno_text("open " + path));
    }
    env_exclusive out{fd};
    struct flock fl;
    std::memset(&fl, 0, sizeof fl);
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    fl.l_start = 0;
    fl.l_len = 1;
    if (::fcntl(fd, F_SETLK, &fl) == 0)
      return out;
    if (errno != EAGAIN && errno != EACCES)
      return make_error(journal_errc::storage_error,
                        errno_text("lock " + path));
    std::memset(&fl, 0, sizeof fl);
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    fl.l_start = 0;
    fl.l_len = 1;
    std::string who = "another process";
    if (::fcntl(fd, F_GETLK, &fl) == 0 && fl.l_type != F_UNLCK)
      who = "pid " + std::to_string(fl.l_pid);
    return make_error(journal_errc::locked,
                      "the LMDB environment in " + dir + " is open in " + who
                        + " (a reader such as annals-journal?); stop it and "
                          "run the upgrade again");
  }

  env_exclusive(env_exclusive&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)) {
  }
  env_exclusive& operator=(env_exclusive&&) = delete;
  env_exclusive(const env_exclusive&) = delete;
  env_exclusive& operator=(const env_exclusive&) = delete;
  ~env_exclusive() {
    if (fd_ >= 0)
      ::close(fd_);
  }

  /// Empties the lock file (a process that opened it meanwhile and waits for
  /// our lock then fails to map it) and removes its name.
  void retire(const std::string& dir) {
    if (fd_ < 0)
      return;
    static_cast<void>(::ftruncate(fd_, 0));
    ::unlink((dir + "/lock.mdb").c_str());
  }

private:
  explicit env_exclusive(int fd) noexcept : fd_(fd) {
  }
  int fd_ = -1;
};

/// One upgrade run on a format-1 directory whose lock this process holds.
class upgrader {
public:
  upgrader(std::string dir, std::unique_ptr<detail::format1::reader> old,
           const upgrade_observer& observer)
    : dir_(std::move(dir)), tmp_(dir_ + "/upgrade.tmp"), old_(std::move(old)),
      observer_(observer) {
    rep_.from_format = detail::format1::version;
    rep_.to_format = detail::format_version;
    rep_.partitions = old_->partitions();
    ends_.assign(rep_.partitions, 0);
  }

  caf::expected<upgrade_report> run() {
    auto total = old_->event_count();
    if (!total)
      return std::move(total.error());
    rep_.events_total = *total;
    std::error_code ec;
    std::filesystem::remove_all(tmp_, ec);
    if (!ec)
      std::filesystem::create_directory(tmp_, ec);
    if (ec)
      return make_error(journal_errc::io_error,
                        "cannot make " + tmp_ + ": " + ec.message());
    if (auto err = copy())
      return err;
    if (auto err = check_copy())
      return err;
    if (auto err = switch_files())
      return err;
    rep_.at = upgrade_report::stage::done;
    rep_.upgraded = true;
    notify();
    return rep_;
  }

private:
  void notify() {
    if (observer_)
      observer_(rep_);
  }

  caf::error fail(journal_errc code, const std::string& what) const {
    return make_error(code, "upgrade of " + dir_ + ": " + what);
  }

  /// Everything, into a new journal in tmp_; closes it and makes it durable.
  caf::error copy() {
    journal_options opts;
    opts.partitions = rep_.partitions;
    opts.sync = durability::unsafe_no_sync;
    // Keep every stored snapshot and accept every stored payload: the old
    // journal may have been run with other limits.
    opts.snapshots_kept = std::numeric_limits<uint32_t>::max();
    opts.max_payload_bytes = std::numeric_limits<uint32_t>::max();
    opts.initial_map_bytes
      = std::max(opts.initial_map_bytes, old_->map_bytes());
    opts.max_map_bytes = std::max(opts.max_map_bytes, 4 * old_->map_bytes());
    auto opened = open_lmdb_journal(tmp_, opts);
    if (!opened)
      return std::move(opened.error());
    journal_ = std::move(*opened);
    notify();
    if (auto err = old_->scan_appends(
          [this](stored_append& app) { return add_append(app); }))
      return err;
    if (auto err = flush())
      return err;
    if (auto err = copy_rest())
      return err;
    journal_.reset();
    // Index the events still waiting in the journal's in-memory tail: one
    // commit with a tail limit of 0 writes them all, so the new journal
    // opens without rescanning its log and a read-only reader (which has no
    // tail) needs no rescan per read.
    opts.max_unindexed_events = 0;
    auto reopened = open_lmdb_journal(tmp_, opts);
    if (!reopened)
      return std::move(reopened.error());
    if (auto res = (*reopened)->commit(write_batch{}); !res)
      return std::move(res.error());
    reopened->reset();
    if (auto err = sync_path(tmp_ + "/data.mdb", false))
      return err;
    return sync_path(tmp_, true);
  }

  caf::error add_append(stored_append& app) {
    const auto& first = app.events.front();
    const auto& last = app.events.back();
    append_request req;
    req.stream = app.stream;
    req.expected = expected_revision::exactly(first.rev - 1);
    req.epoch = app.epoch;
    if (!app.command_id.empty()) {
      auto key = detail::format1::stream_key(app.stream) + app.command_id;
      bool keep = app.dedupe != stored_append::remembered::other_one;
      if (keep && app.dedupe == stored_append::remembered::no) {
        // Forgotten by the old window: keep it unless the new journal
        // remembers it already (an earlier append of this stream used it).
        if (pending_commands_.count(key) != 0) {
          keep = false;
        } else {
          auto seen = journal_->find_command(app.stream, app.command_id);
          if (!seen)
            return std::move(seen.error());
          keep = !seen->has_value();
        }
      }
      if (keep) {
        req.command_id = app.command_id;
        pending_commands_.insert(std::move(key));
      } else {
        ++rep_.command_ids_dropped;
      }
    }
    for (auto& ev : app.events) {
      event_data data;
      data.type = std::move(ev.type);
      data.schema_version = ev.schema_version;
      data.timestamp_ns = ev.timestamp_ns;
      data.correlation_id = std::move(ev.meta.correlation_id);
      data.causation_id = std::move(ev.meta.causation_id);
      data.payload = std::move(ev.payload);
      pending_bytes_ += data.payload.size() + 64;
      req.events.push_back(std::move(data));
    }
    pending_results_.push_back(append_result{
      first.partition, first.rev, last.rev, first.pos, last.pos, false});
    ends_[first.partition] = last.pos;
    pending_.appends.push_back(std::move(req));
    if (pending_.appends.size() >= batch_appends
        || pending_bytes_ >= batch_bytes)
      return flush();
    return {};
  }

  /// Commits the pending appends and checks where each landed.
  caf::error flush() {
    if (pending_.appends.empty())
      return {};
    auto res = journal_->commit(pending_);
    if (!res)
      return std::move(res.error());
    if (res->appends.size() != pending_.appends.size())
      return fail(journal_errc::storage_error,
                  "the new journal answered "
                    + std::to_string(res->appends.size()) + " results for "
                    + std::to_string(pending_.appends.size()) + " appends");
    for (std::size_t i = 0; i < res->appends.size(); ++i) {
      const auto& want = pending_results_[i];
      const auto& req = pending_.appends[i];
      auto what = "stream " + to_string(req.stream) + " revisions "
                  + std::to_string(want.first_revision) + ".."
                  + std::to_string(want.last_revision);
      const auto& got = res->appends[i];
      if (!got)
        return fail(journal_errc::storage_error, "the new journal refused "
                                                   + what + ": "
                                                   + describe(got.error()));
      if (*got != want)
        return fail(journal_errc::storage_error,
                    what + " landed at partition "
                      + std::to_string(got->partition) + " revisions "
                      + std::to_string(got->first_revision) + ".."
                      + std::to_string(got->last_revision) + " positions "
                      + std::to_string(got->first_position) + ".."
                      + std::to_string(got->last_position)
                      + (got->duplicate ? " (a duplicate)" : "")
                      + "; the old journal has them at partition "
                      + std::to_string(want.partition) + " positions "
                      + std::to_string(want.first_position) + ".."
                      + std::to_string(want.last_position));
      rep_.events_copied += want.last_revision - want.first_revision + 1;
    }
    rep_.appends_copied += res->appends.size();
    pending_ = write_batch{};
    pending_results_.clear();
    pending_commands_.clear();
    pending_bytes_ = 0;
    ANNALS_CRASH_POINT("annals/upgrade/after_commit");
    notify();
    return {};
  }

  /// Commits `batch` (no appends) if it is non-empty.
  caf::error commit_rest(write_batch& batch) {
    if (batch.snapshots.empty() && batch.checkpoints.empty()
        && batch.models.empty() && batch.fences.empty())
      return {};
    auto res = journal_->commit(batch);
    if (!res)
      return std::move(res.error());
    batch = write_batch{};
    pending_bytes_ = 0;
    ANNALS_CRASH_POINT("annals/upgrade/after_commit");
    notify();
    return {};
  }

  /// Snapshots, checkpoints, read models, then the owner epochs (last: a
  /// fence before the appends would refuse their older epochs).
  caf::error copy_rest() {
    write_batch batch;
    auto full = [&] {
      return pending_bytes_ >= batch_bytes
             || batch.snapshots.size() + batch.checkpoints.size()
                    + batch.models.size()
                  >= batch_appends;
    };
    auto err = old_->scan_snapshots([&](snapshot& snap) -> caf::error {
      pending_bytes_ += snap.payload.size() + 64;
      batch.snapshots.push_back(std::move(snap));
      ++rep_.snapshots;
      return full() ? commit_rest(batch) : caf::error{};
    });
    if (err)
      return err;
    err = old_->scan_checkpoints(
      [&](std::string_view consumer, partition_id p, position pos) {
        batch.checkpoints.push_back({std::string{consumer}, p, pos});
        ++rep_.checkpoints;
        return full() ? commit_rest(batch) : caf::error{};
      });
    if (err)
      return err;
    err = old_->scan_models([&](std::string_view model, std::string_view key,
                                std::string_view value) {
      pending_bytes_ += key.size() + value.size();
      batch.models.push_back(
        {std::string{model}, std::string{key}, std::string{value}, false});
      ++rep_.model_rows;
      return full() ? commit_rest(batch) : caf::error{};
    });
    if (err)
      return err;
    if (auto err2 = commit_rest(batch))
      return err2;
    epochs_.assign(rep_.partitions, 0);
    err = old_->scan_epochs([&](partition_id p, uint64_t epoch) {
      epochs_[p] = epoch;
      batch.fences.push_back({p, epoch});
      ++rep_.epochs;
      return caf::error{};
    });
    if (err)
      return err;
    return commit_rest(batch);
  }

  /// Reads the new journal back (read-only): `verify()` clean, and the same
  /// event count, partition ends and owner epochs as the old one.
  caf::error check_copy() {
    rep_.at = upgrade_report::stage::verifying;
    notify();
    auto j = open_lmdb_journal_read_only(tmp_);
    if (!j)
      return std::move(j.error());
    auto rep = (*j)->verify();
    if (!rep)
      return std::move(rep.error());
    if (!rep->problems.empty())
      return fail(journal_errc::storage_error,
                  "the new journal fails verification: "
                    + rep->problems.front());
    if (rep->events != rep_.events_total)
      return fail(journal_errc::storage_error,
                  "the new journal holds " + std::to_string(rep->events)
                    + " events, the old one "
                    + std::to_string(rep_.events_total));
    auto ends = (*j)->partition_ends();
    if (!ends)
      return std::move(ends.error());
    if (*ends != ends_)
      return fail(journal_errc::storage_error,
                  "the partition ends of the new journal differ");
    for (partition_id p = 0; p < rep_.partitions; ++p) {
      auto epoch = (*j)->partition_epoch(p);
      if (!epoch)
        return std::move(epoch.error());
      if (*epoch != epochs_[p])
        return fail(journal_errc::storage_error,
                    "partition " + std::to_string(p) + " has owner epoch "
                      + std::to_string(*epoch) + " in the new journal, "
                      + std::to_string(epochs_[p]) + " in the old one");
    }
    return {};
  }

  /// Makes the new file DIR/data.mdb (see the comment at the top).
  caf::error switch_files() {
    rep_.at = upgrade_report::stage::switching;
    notify();
    old_.reset(); // closes the old environment: its fcntl locks go with it
    auto excl = env_exclusive::acquire(dir_);
    if (!excl)
      return std::move(excl.error());
    auto data = dir_ + "/data.mdb";
    rep_.backup = data + ".format1";
    ANNALS_CRASH_POINT("annals/upgrade/before_backup");
    if (::unlink(rep_.backup.c_str()) != 0 && errno != ENOENT)
      return fail(journal_errc::io_error,
                  errno_text("remove the stale " + rep_.backup));
    if (::link(data.c_str(), rep_.backup.c_str()) != 0)
      return fail(journal_errc::io_error,
                  errno_text("keep the old journal as " + rep_.backup));
    if (auto err = sync_path(dir_, true))
      return err;
    ANNALS_CRASH_POINT("annals/upgrade/before_rename");
    if (::rename((tmp_ + "/data.mdb").c_str(), data.c_str()) != 0)
      return fail(journal_errc::io_error,
                  errno_text("rename the new journal over " + data));
    if (auto err = sync_path(dir_, true))
      return err;
    ANNALS_CRASH_POINT("annals/upgrade/after_rename");
    excl->retire(dir_);
    ANNALS_CRASH_POINT("annals/upgrade/before_cleanup");
    std::error_code ec;
    std::filesystem::remove_all(tmp_, ec);
    if (ec)
      return fail(journal_errc::io_error,
                  "the new journal is in place, but " + tmp_
                    + " could not be removed: " + ec.message());
    return sync_path(dir_, true);
  }

  std::string dir_;
  std::string tmp_;
  std::unique_ptr<detail::format1::reader> old_;
  const upgrade_observer& observer_;
  upgrade_report rep_;
  std::unique_ptr<journal> journal_;
  write_batch pending_;
  std::vector<append_result> pending_results_;
  /// Stream key ‖ command id of the pending appends that keep their id.
  std::set<std::string> pending_commands_;
  std::size_t pending_bytes_ = 0;
  std::vector<position> ends_;
  std::vector<uint64_t> epochs_;
};

} // namespace

caf::expected<upgrade_report>
upgrade_lmdb_journal(const std::string& dir, const upgrade_observer& observer) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)
      || !std::filesystem::is_regular_file(dir + "/data.mdb", ec))
    return make_error(journal_errc::invalid_argument,
                      "no journal in " + dir + ": it has no data.mdb");
  auto lock = detail::dir_lock::acquire(dir);
  if (!lock)
    return make_error(journal_errc::locked,
                      describe(lock.error())
                        + "; stop it before upgrading the journal");
  caf::error not_format1;
  {
    auto claim = detail::env_claim::acquire(dir);
    if (!claim)
      return std::move(claim.error());
    // Fail early if a reader has the environment open; the switch checks
    // again, since one may start meanwhile.
    if (auto excl = env_exclusive::acquire(dir); !excl)
      return std::move(excl.error());
    auto old = detail::format1::reader::open(dir);
    if (old) {
      auto done = upgrader{dir, std::move(*old), observer}.run();
      // A failed run leaves the old journal in place; free the space of
      // its partial copy (a disk-full failure would otherwise persist).
      if (!done)
        std::filesystem::remove_all(dir + "/upgrade.tmp", ec);
      return done;
    }
    if (!is(old.error(), journal_errc::unsupported_format))
      return std::move(old.error());
    not_format1 = std::move(old.error());
  }
  // Not format 1: is it this build's format? Then at most a crash after the
  // switch left upgrade.tmp behind.
  auto current = open_lmdb_journal_read_only(dir);
  if (!current)
    return is(current.error(), journal_errc::unsupported_format)
             ? not_format1
             : std::move(current.error());
  upgrade_report rep;
  rep.partitions = (*current)->partition_count();
  current->reset();
  std::filesystem::remove_all(dir + "/upgrade.tmp", ec);
  if (ec)
    return make_error(journal_errc::io_error,
                      "cannot remove " + dir + "/upgrade.tmp: " + ec.message());
  rep.at = upgrade_report::stage::done;
  rep.from_format = detail::format_version;
  rep.to_format = detail::format_version;
  if (std::filesystem::exists(dir + "/data.mdb.format1", ec))
    rep.backup = dir + "/data.mdb.format1";
  if (observer)
    observer(rep);
  return rep;
}

} // namespace annals
