// annals -- event-sourced aggregates on the C++ Actor Framework.
// The LMDB journal: commits and the index flush (see lmdb_journal.hpp).
#include "annals/persistence/planted_bugs.hpp"

#include "lmdb_journal.hpp"
#include "validate.hpp"

#include <algorithm>
#include <chrono>
#include <unordered_map>

namespace annals::detail {

/// Flush policy: no flush while the tail holds fewer events than this...
constexpr uint64_t tail_low_water = 4096;
/// ...then one index entry per this many appended events (plus one).
constexpr uint64_t events_per_flushed_entry = 64;

// -- writing ------------------------------------------------------------------

lmdb_failure lmdb_journal::writer_head(MDB_cursor* streams,
                                       const std::string& skey, revision& out,
                                       tail_run*& run) {
  if ((run = tail_.find_stream(skey))) {
    out = run->last();
    return {};
  }
  return index_end_in(streams, skey, out);
}

lmdb_failure lmdb_journal::read_epoch(MDB_txn* txn, partition_id p,
                                      uint64_t& out) const {
  out = 0;
  auto ek = u32be_key(p);
  MDB_val k = to_val(ek), v;
  auto rc = mdb_get(txn, epochs_, &k, &v);
  if (rc == MDB_NOTFOUND)
    return {};
  if (rc != 0)
    return {rc, "read partition epoch"};
  byte_reader r{v.mv_data, v.mv_size};
  out = r.u64le();
  return {};
}

lmdb_failure lmdb_journal::write_epoch(MDB_txn* txn, partition_id p,
                                       uint64_t epoch) {
  auto ek = u32be_key(p);
  std::string ev;
  byte_writer{ev}.u64le(epoch);
  MDB_val k = to_val(ek), v = to_val(ev);
  if (auto rc = mdb_put(txn, epochs_, &k, &v, 0); rc != 0)
    return {rc, "write partition epoch"};
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

/// Writes `run` as durable index entries under `prefix` (at most
/// `max_index_entry` numbers each).
lmdb_failure put_run(MDB_txn* txn, MDB_dbi dbi, const std::string& prefix,
                     const tail_run& run, std::string& scratch) {
  for (std::size_t i = 0; i < run.seqs.size(); i += max_index_entry) {
    auto n = std::min(max_index_entry, run.seqs.size() - i);
    std::string key = prefix;
    byte_writer{key}.u64be(run.first + i + n - 1);
    encode_index_entry(run.first + i, run.seqs.data() + i, n, scratch);
    MDB_val k = to_val(key), v = to_val(scratch);
    if (auto rc = mdb_put(txn, dbi, &k, &v, MDB_NOOVERWRITE); rc != 0)
      return {rc, "write index entry"};
  }
  return {};
}

lmdb_failure lmdb_journal::flush_index(MDB_txn* txn, uint64_t appended,
                                       commit_plan& plan) {
  auto max_tail = std::max<uint64_t>(opts_.max_unindexed_events, 1);
  auto entries = 1 + appended / events_per_flushed_entry;
  auto low_water = std::min(tail_low_water, max_tail / 2);
  if (tail_.stream_events() + appended > low_water)
    plan.flushed_streams = tail_.oldest_streams(entries, max_tail);
  if (tail_.partition_events() + appended > low_water)
    plan.flushed_partitions = tail_.oldest_partitions(entries, max_tail);
  for (const auto& skey : plan.flushed_streams)
    if (auto f = put_run(txn, streams_, skey, *tail_.stream(skey), scratch_);
        f.rc != 0)
      return f;
  for (auto p : plan.flushed_partitions)
    if (auto f
        = put_run(txn, parts_, u32be_key(p), *tail_.partition(p), scratch_);
        f.rc != 0)
      return f;
  // Every event before the oldest run left (or added now) is indexed.
  auto oldest = tail_.oldest_seq(plan.flushed_streams.size(),
                                 plan.flushed_partitions.size());
  if (!plan.events.empty())
    oldest = std::min(oldest, plan.events.front().seq);
  plan.indexed_through = std::min(oldest, plan.next_seq);
  if (plan.indexed_through != indexed_through_) {
    auto key = std::string_view{"indexed_through"};
    std::string val;
    byte_writer{val}.u64le(plan.indexed_through);
    MDB_val k = to_val(key), v = to_val(val);
    if (auto rc = mdb_put(txn, meta_, &k, &v, 0); rc != 0)
      return {rc, "write indexed_through"};
  }
  if (!plan.flushed_streams.empty() || !plan.flushed_partitions.empty())
    ANNALS_CRASH_POINT("annals/journal/index_flush");
  return {};
}

lmdb_failure lmdb_journal::try_commit(MDB_txn* txn, const write_batch& batch,
                                      batch_result& out, commit_plan& plan) {
  out.appends.clear();
  out.appends.reserve(batch.appends.size());
  plan = commit_plan{};
  cursor_guard streams, log;
  if (auto rc = mdb_cursor_open(txn, streams_, &streams.cur); rc != 0)
    return {rc, "open cursor"};
  if (auto rc = mdb_cursor_open(txn, log_, &log.cur); rc != 0)
    return {rc, "open cursor"};
  auto now = now_ns();
  auto seq = next_seq_;
  uint64_t appended = 0;
  struct stream_state {
    revision committed; ///< before this batch
    revision current;   ///< after this batch's appends so far
    std::size_t skey;   ///< index into plan.skeys
  };
  // Keyed by views of plan.skeys, which never reallocates (reserved).
  plan.skeys.reserve(batch.appends.size());
  plan.runs.reserve(batch.appends.size());
  plan.appends.reserve(batch.appends.size());
  plan.events.reserve(batch.appends.size());
  std::unordered_map<std::string_view, stream_state> heads;
  heads.reserve(batch.appends.size());
  std::unordered_map<std::string, append_result> batch_ids;
  // This batch's view of each partition it touches (see batch_partition).
  if (batch_parts_.size() != partitions_)
    batch_parts_.assign(partitions_, batch_partition{});
  auto gen = ++batch_gen_;
  std::vector<partition_id> touched;
  auto part = [&](partition_id p) -> batch_partition& {
    auto& bp = batch_parts_[p];
    if (bp.gen != gen) {
      bp = batch_partition{gen, part_end_[p], false, 0, lineage_last_[p]};
      touched.push_back(p);
    }
    return bp;
  };
  std::vector<partition_id> refused;
  for (const auto& x : batch.expected_ends)
    if (part_end_[x.partition] != x.end)
      refused.push_back(x.partition);
  auto& skey = skey_scratch_;
  for (const auto& req : batch.appends) {
    if (auto err = validate(req, opts_)) {
      out.appends.emplace_back(std::move(err));
      continue;
    }
    stream_key_into(req.stream, skey);
    auto p = partition_of(req.stream, partitions_);
    if (std::find(refused.begin(), refused.end(), p) != refused.end()) {
      out.appends.emplace_back(make_error(
        journal_errc::wrong_expected_position,
        "stream " + to_string(req.stream) + ": partition " + std::to_string(p)
          + " ends at " + std::to_string(part_end_[p])
          + ", not where the batch expected"));
      continue;
    }
    // The stream as committed before this batch, and as this batch left it.
    auto head = heads.find(std::string_view{skey});
    if (head == heads.end()) {
      revision last = 0;
      tail_run* run = nullptr;
      if (auto f = writer_head(streams.cur, skey, last, run); f.rc != 0)
        return f;
      plan.skeys.push_back(skey);
      plan.runs.push_back(run);
      head = heads
               .emplace(std::string_view{plan.skeys.back()},
                        stream_state{last, last, plan.skeys.size() - 1})
               .first;
    }
    bool lookup
      = !req.command_id.empty() && opts_.dedupe_window > 0 && !req.verbatim;
#ifdef ANNALS_PLANTED_BUGS
    if (planted::bug("no_dedupe"))
      lookup = false;
#endif
    if (lookup) {
      std::optional<append_result> dup;
      auto ckey = skey + req.command_id;
      if (auto it = batch_ids.find(ckey); it != batch_ids.end()) {
        dup = it->second;
      } else if (dedupe_.find(skey, req.command_id, &dup)) {
        if (dup) { // a hash match: confirm it against the record
          tail_run run;
          if (auto* r = tail_.stream(skey))
            run = *r;
          auto same = command_at(txn, req.stream, skey, dup->first_revision,
                                 run, req.command_id);
          if (!same) {
            out.appends.emplace_back(std::move(same.error()));
            continue;
          }
          if (!*same)
            dup.reset();
        }
      } else {
        // Not cached: read the stream's window as committed (this batch's
        // own appends are in batch_ids), then remember it.
        std::vector<remembered_append> window;
        tail_run run;
        if (auto* r = tail_.stream(skey))
          run = *r;
        if (auto err = read_window(txn, req.stream, skey,
                                   head->second.committed, run, window)) {
          out.appends.emplace_back(std::move(err)); // e.g. a damaged record
          continue;
        }
        for (const auto& a : window)
          if (a.command_id == req.command_id)
            dup = a.where;
        dedupe_.load(skey, head->second.committed, std::move(window));
      }
      if (dup) {
        dup->duplicate = true;
        out.appends.emplace_back(*dup);
        continue;
      }
    }
    // Fencing: a writer with an older epoch than the partition's is stale.
    auto writer = req.writer_epoch != 0 ? req.writer_epoch : req.epoch;
    if (writer != 0) {
      auto& bp = part(p);
      if (!bp.epoch_read) {
        if (auto f = read_epoch(txn, p, bp.epoch); f.rc != 0)
          return f;
        bp.epoch_read = true;
      }
      bool stale = writer < bp.epoch;
#ifdef ANNALS_PLANTED_BUGS
      if (planted::bug("no_fencing"))
        stale = false;
#endif
      if (stale) {
        out.appends.emplace_back(make_error(
          journal_errc::stale_epoch,
          "stream " + to_string(req.stream) + ": epoch "
            + std::to_string(writer) + " is older than partition "
            + std::to_string(p) + "'s epoch " + std::to_string(bp.epoch)));
        continue;
      }
      if (writer > bp.epoch) {
        if (auto f = write_epoch(txn, p, writer); f.rc != 0)
          return f;
        bp.epoch = writer;
      }
    }
    auto last = head->second.current;
    if (!req.expected.admits(last)) {
      out.appends.emplace_back(make_conflict_error(
        "stream " + to_string(req.stream) + ": expected revision "
          + to_string(req.expected) + ", actual " + std::to_string(last),
        last));
      continue;
    }
    auto& bp = part(p);
    auto first_pos = bp.end + 1;
    auto n = req.events.size();
    if (req.epoch != 0 && req.epoch > bp.lineage) {
      auto lk = lineage_key(p, req.epoch);
      std::string lv;
      byte_writer{lv}.u64le(first_pos);
      MDB_val k = to_val(lk), v = to_val(lv);
      if (auto rc = mdb_put(txn, lineage_, &k, &v, 0); rc != 0)
        return {rc, "write lineage"};
      bp.lineage = req.epoch;
    }
    for (std::size_t j = 0; j < n; ++j) {
      const auto& ev = req.events[j];
      record_view rec{req.stream,
                      last + 1 + j,
                      p,
                      first_pos + j,
                      ev.timestamp_ns != 0 ? ev.timestamp_ns : now,
                      req.epoch,
                      ev.schema_version,
                      ev.type,
                      req.command_id,
                      ev.correlation_id,
                      ev.causation_id,
                      ev.payload,
                      j + 1 == n};
      // Encoded in place, in the page LMDB reserves for it.
      auto lk = u64be_key(seq);
      MDB_val k = to_val(lk), v{record_size(rec), nullptr};
      if (auto rc = mdb_cursor_put(log.cur, &k, &v, MDB_APPEND | MDB_RESERVE);
          rc != 0)
        return {rc, "append to the log"};
      encode_record_to(rec, static_cast<char*>(v.mv_data));
      plan.events.push_back(
        {head->second.skey, last + 1 + j, p, first_pos + j, seq});
      ++seq;
    }
    appended += n;
    head->second.current = last + n;
    bp.end = first_pos + n - 1;
    append_result res{p,         last + 1,          last + n,
                      first_pos, first_pos + n - 1, false};
    if (!req.command_id.empty())
      batch_ids.emplace(std::string{skey} + req.command_id, res);
    plan.appends.push_back({head->second.skey, last + n, req.command_id, res});
    out.appends.emplace_back(res);
  }
  for (const auto& snap : batch.snapshots) {
    auto snap_key = stream_key(snap.stream);
    encode_snapshot(snap, scratch_);
    auto sk = stream_rev_key(snap_key, snap.rev);
    MDB_val k = to_val(sk), v = to_val(scratch_);
    if (auto rc = mdb_put(txn, snapshots_, &k, &v, 0); rc != 0)
      return {rc, "save snapshot of " + to_string(snap.stream)};
    if (auto f = prune_snapshots(txn, snap_key); f.rc != 0)
      return f;
  }
  for (const auto& cp : batch.checkpoints) {
    auto ck = checkpoint_key(cp.consumer, cp.partition);
    std::string cv;
    byte_writer{cv}.u64le(cp.pos);
    MDB_val k = to_val(ck), v = to_val(cv);
    if (auto rc = mdb_put(txn, checkpoints_, &k, &v, 0); rc != 0)
      return {rc, "save checkpoint of " + cp.consumer};
  }
  for (const auto& fence : batch.fences) {
    uint64_t current = 0;
    if (auto f = read_epoch(txn, fence.partition, current); f.rc != 0)
      return f;
    if (fence.epoch > current)
      if (auto f = write_epoch(txn, fence.partition, fence.epoch); f.rc != 0)
        return f;
  }
  for (const auto& mw : batch.models) {
    auto mk = model_key(mw.model, mw.key);
    MDB_val k = to_val(mk);
    if (mw.erase) {
      auto rc = mdb_del(txn, models_, &k, nullptr);
      if (rc != 0 && rc != MDB_NOTFOUND)
        return {rc, "erase from model " + mw.model};
    } else {
      MDB_val v = to_val(mw.value);
      if (auto rc = mdb_put(txn, models_, &k, &v, 0); rc != 0)
        return {rc, "write model " + mw.model};
    }
  }
  plan.next_seq = seq;
  for (auto p : touched)
    if (batch_parts_[p].lineage != lineage_last_[p])
      plan.lineage.emplace_back(p, batch_parts_[p].lineage);
  return flush_index(txn, appended, plan);
}

void lmdb_journal::apply(commit_plan& plan) {
  std::unique_lock guard{tail_mtx_};
  // The runs about to be erased are no hints any more.
  if (!plan.flushed_streams.empty()) {
    std::vector<const tail_run*> gone;
    gone.reserve(plan.flushed_streams.size());
    for (const auto& skey : plan.flushed_streams)
      gone.push_back(tail_.stream(skey));
    std::sort(gone.begin(), gone.end());
    for (auto& run : plan.runs)
      if (run && std::binary_search(gone.begin(), gone.end(), run))
        run = nullptr;
  }
  for (const auto& skey : plan.flushed_streams)
    tail_.erase_stream(skey);
  for (auto p : plan.flushed_partitions)
    tail_.erase_partition(p);
  for (const auto& e : plan.events) {
    auto& run = plan.runs[e.skey];
    if (run)
      tail_.extend_stream(*run, e.rev, e.seq);
    else
      run = &tail_.add_stream(plan.skeys[e.skey], e.rev, e.seq);
    tail_.add_partition(e.p, e.pos, e.seq);
    part_end_[e.p] = e.pos;
  }
  for (auto [p, epoch] : plan.lineage)
    lineage_last_[p] = epoch;
  next_seq_ = plan.next_seq;
  for (const auto& a : plan.appends)
    dedupe_.record(plan.skeys[a.skey], a.head, a.command_id, a.where);
  indexed_through_ = plan.indexed_through;
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
  commit_plan plan;
  if (auto err
      = write([&](MDB_txn* txn) { return try_commit(txn, batch, out, plan); }))
    return err;
  apply(plan);
  ++commits_;
  return out;
}

} // namespace annals::detail
