// annals -- event-sourced aggregates on the C++ Actor Framework.
// The LMDB journal: reads (see lmdb_journal.hpp).
#include "annals/persistence/planted_bugs.hpp"

#include "lmdb_journal.hpp"

#include <algorithm>

namespace annals::detail {

namespace {

/// The record at log sequence `seq`, decoded and checksummed into `ev`;
/// errors name `where()` (the index entry that pointed there).
template <class Where>
caf::error read_indexed(log_reader& log, uint64_t seq, event_view& ev,
                        const Where& where) {
  MDB_val v;
  auto rc = log.at(seq, v);
  if (rc == MDB_NOTFOUND)
    return make_error(journal_errc::corrupt_record,
                      where() + ": no record at log sequence "
                        + std::to_string(seq));
  if (rc != 0)
    return lmdb_error(rc, where());
  if (auto fault = decode_record_view(v.mv_data, v.mv_size, ev);
      fault != record_fault::none)
    return record_error(fault, v.mv_size, where());
  return {};
}

} // namespace

template <class G>
caf::error lmdb_journal::walk_index(MDB_txn* txn, MDB_dbi dbi,
                                    const std::string& prefix, uint64_t from,
                                    const tail_run& run,
                                    const std::string& what, G g) const {
  from = std::max<uint64_t>(from, 1);
  cursor_guard idx;
  if (auto rc = mdb_cursor_open(txn, dbi, &idx.cur); rc != 0)
    return lmdb_error(rc, "open cursor");
  uint64_t durable_end = 0;
  if (auto f = index_end_in(idx.cur, prefix, durable_end); f.rc != 0)
    return lmdb_error(f.rc, f.what + " of " + what);
  auto next = from;
  if (from <= durable_end) {
    std::string probe = prefix;
    byte_writer{probe}.u64be(from);
    MDB_val k = to_val(probe), v;
    auto rc = mdb_cursor_get(idx.cur, &k, &v, MDB_SET_RANGE);
    std::vector<uint64_t> seqs;
    while (rc == 0) {
      auto key = to_view(k);
      if (key.size() != prefix.size() + 8 || !starts_with(key, prefix))
        break;
      uint64_t first = 0;
      auto last = suffix_u64be(key);
      if (!decode_index_entry(to_view(v), first, seqs)
          || first + seqs.size() - 1 != last || first > next)
        return make_error(journal_errc::corrupt_record,
                          what + ": malformed index entry ending at "
                            + std::to_string(last));
      for (auto n = next; n <= last; ++n)
        if (bool stop = false; auto err = g(n, seqs[n - first], stop))
          return err;
        else if (stop)
          return {};
      next = last + 1;
      rc = mdb_cursor_get(idx.cur, &k, &v, MDB_NEXT);
    }
    if (rc != 0 && rc != MDB_NOTFOUND)
      return lmdb_error(rc, "read the index of " + what);
    if (next <= durable_end)
      return make_error(journal_errc::corrupt_record,
                        what + ": the index has a gap before "
                          + std::to_string(durable_end));
  }
  next = std::max(next, durable_end + 1);
  if (run.empty() || run.last() < next)
    return {};
  if (run.first > next)
    return make_error(journal_errc::corrupt_record,
                      what + ": nothing indexes " + std::to_string(next));
  for (auto n = next; n <= run.last(); ++n)
    if (bool stop = false; auto err = g(n, run.seqs[n - run.first], stop))
      return err;
    else if (stop)
      return {};
  return {};
}

template <class G>
caf::error lmdb_journal::visit_stream(MDB_txn* txn, const stream_id& stream,
                                      const std::string& skey, revision from,
                                      const tail_run& run, G g) const {
  log_reader log;
  if (auto rc = log.open(txn, log_); rc != 0)
    return lmdb_error(rc, "open cursor");
  auto p = partition_of(stream, partitions_);
  auto what = "stream " + to_string(stream);
  event_view ev;
  return walk_index(
    txn, streams_, skey, from, run, what,
    [&](revision r, uint64_t seq, bool& stop) -> caf::error {
      auto where = [&] { return what + " revision " + std::to_string(r); };
      if (auto err = read_indexed(log, seq, ev, where))
        return err;
      if (ev.rev != r || ev.partition != p || ev.category != stream.category
          || ev.id != stream.id)
        return make_error(journal_errc::corrupt_record,
                          where() + ": log sequence " + std::to_string(seq)
                            + " holds " + std::string{ev.category} + "/"
                            + std::string{ev.id} + " revision "
                            + std::to_string(ev.rev));
      stop = !g(ev);
      return {};
    });
}

caf::error lmdb_journal::scan_stream(const stream_id& stream, revision from,
                                     const event_visitor& f) const {
  auto skey = stream_key(stream);
  tail_run run;
  auto capture
    = [&](MDB_txn*, const index_tail& tail, const std::vector<position>&) {
        if (auto* r = tail.stream(skey))
          run = *r;
      };
  return with_read_view(capture, [&](MDB_txn* txn) -> caf::error {
    return visit_stream(txn, stream, skey, from, run, f);
  });
}

caf::error lmdb_journal::scan_partition(partition_id p, position from,
                                        const event_visitor& f) const {
  if (p >= partitions_)
    return make_error(journal_errc::invalid_argument,
                      "partition " + std::to_string(p) + " out of range");
  tail_run run;
  auto capture
    = [&](MDB_txn*, const index_tail& tail, const std::vector<position>&) {
        if (auto* r = tail.partition(p))
          run = *r;
      };
  return with_read_view(capture, [&](MDB_txn* txn) -> caf::error {
    log_reader log;
    if (auto rc = log.open(txn, log_); rc != 0)
      return lmdb_error(rc, "open cursor");
    auto what = "partition " + std::to_string(p);
    event_view ev;
    return walk_index(
      txn, parts_, u32be_key(p), from, run, what,
      [&](position pos, uint64_t seq, bool& stop) -> caf::error {
        auto where = [&] { return what + " position " + std::to_string(pos); };
        if (auto err = read_indexed(log, seq, ev, where))
          return err;
        if (ev.partition != p || ev.pos != pos)
          return make_error(journal_errc::corrupt_record,
                            where() + ": record claims partition "
                              + std::to_string(ev.partition) + " position "
                              + std::to_string(ev.pos));
        stop = !f(ev);
        return {};
      });
  });
}

caf::error lmdb_journal::read_window(
  MDB_txn* txn, const stream_id& stream, const std::string& skey, revision head,
  const tail_run& run, std::vector<remembered_append>& out) const {
  out.clear();
  auto window = opts_.dedupe_window;
  if (window == 0 || head == 0)
    return {};
  // Consecutive events with one command id are one append.
  auto from = head > window ? head - window + 1 : 1;
  auto err
    = visit_stream(txn, stream, skey, from, run, [&](const event_view& ev) {
        if (ev.rev > head)
          return false;
        if (ev.command_id.empty())
          return true;
        if (!out.empty() && out.back().where.last_revision == ev.rev - 1
            && out.back().command_id == ev.command_id) {
          out.back().where.last_revision = ev.rev;
          out.back().where.last_position = ev.pos;
          return true;
        }
        out.push_back(
          {std::string{ev.command_id},
           append_result{ev.partition, ev.rev, ev.rev, ev.pos, ev.pos, true}});
        return true;
      });
  if (err)
    return err;
  // The oldest append may have begun before the window: find its start.
  while (!out.empty() && out.front().where.first_revision == from && from > 1) {
    auto& oldest = out.front();
    bool same = false;
    err = visit_stream(txn, stream, skey, from - 1, run,
                       [&](const event_view& ev) {
                         same = ev.command_id == oldest.command_id;
                         if (same) {
                           oldest.where.first_revision = ev.rev;
                           oldest.where.first_position = ev.pos;
                         }
                         return false;
                       });
    if (err)
      return err;
    if (!same)
      break;
    from -= 1;
  }
  return {};
}

caf::expected<bool> lmdb_journal::command_at(
  MDB_txn* txn, const stream_id& stream, const std::string& skey, revision rev,
  const tail_run& run, std::string_view command_id) const {
  bool same = false;
  auto err
    = visit_stream(txn, stream, skey, rev, run, [&](const event_view& ev) {
        same = ev.rev == rev && ev.command_id == command_id;
        return false;
      });
  if (err)
    return err;
  return same;
}

caf::expected<std::optional<append_result>>
lmdb_journal::find_command(const stream_id& stream,
                           const std::string& command_id) const {
  if (opts_.dedupe_window == 0)
    return std::optional<append_result>{};
#ifdef ANNALS_PLANTED_BUGS
  if (planted::bug("no_dedupe"))
    return std::optional<append_result>{};
#endif
  auto skey = stream_key(stream);
  std::optional<append_result> found;
  tail_run run;
  auto capture
    = [&](MDB_txn*, const index_tail& tail, const std::vector<position>&) {
        if (auto* r = tail.stream(skey))
          run = *r;
      };
  // The writer's cache answers for active streams: a miss without a
  // transaction, a hash match after reading the record it names.
  if (dedupe_.find(skey, command_id, &found)) {
    if (!found)
      return found;
    return with_read_view(
      capture,
      [&](MDB_txn* txn) -> caf::expected<std::optional<append_result>> {
        auto same = command_at(txn, stream, skey, found->first_revision, run,
                               command_id);
        if (!same)
          return std::move(same.error());
        if (!*same)
          found.reset();
        return found;
      });
  }
  return with_read_view(
    capture, [&](MDB_txn* txn) -> caf::expected<std::optional<append_result>> {
      cursor_guard idx;
      if (auto rc = mdb_cursor_open(txn, streams_, &idx.cur); rc != 0)
        return lmdb_error(rc, "open cursor");
      revision head = 0;
      if (auto f = index_end_in(idx.cur, skey, head); f.rc)
        return lmdb_error(f.rc, f.what);
      if (!run.empty())
        head = std::max(head, run.last());
      std::vector<remembered_append> window;
      if (auto err = read_window(txn, stream, skey, head, run, window))
        return err;
      for (const auto& a : window)
        if (a.command_id == command_id)
          found = a.where;
      return found;
    });
}

caf::error lmdb_journal::scan_log(uint64_t from, const log_visitor& f) const {
  return with_read_txn([&](MDB_txn* txn) -> caf::error {
    cursor_guard cur;
    if (auto rc = mdb_cursor_open(txn, log_, &cur.cur); rc != 0)
      return lmdb_error(rc, "open cursor");
    auto probe = u64be_key(std::max<uint64_t>(from, 1));
    MDB_val k = to_val(probe), v;
    auto rc = mdb_cursor_get(cur.cur, &k, &v, MDB_SET_RANGE);
    event_view ev;
    while (rc == 0) {
      if (k.mv_size != 8)
        return make_error(journal_errc::corrupt_record,
                          "the log has a malformed key");
      auto seq = suffix_u64be(to_view(k));
      if (auto fault = decode_record_view(v.mv_data, v.mv_size, ev);
          fault != record_fault::none)
        return record_error(fault, v.mv_size,
                            "log sequence " + std::to_string(seq));
      if (!f(seq, ev))
        return {};
      rc = mdb_cursor_get(cur.cur, &k, &v, MDB_NEXT);
    }
    if (rc != MDB_NOTFOUND)
      return lmdb_error(rc, "scan the log");
    return {};
  });
}

caf::expected<std::optional<uint64_t>>
lmdb_journal::locate(partition_id p, position pos) const {
  if (p >= partitions_)
    return make_error(journal_errc::invalid_argument,
                      "partition " + std::to_string(p) + " out of range");
  tail_run run;
  auto capture
    = [&](MDB_txn*, const index_tail& tail, const std::vector<position>&) {
        if (auto* r = tail.partition(p))
          run = *r;
      };
  return with_read_view(
    capture, [&](MDB_txn* txn) -> caf::expected<std::optional<uint64_t>> {
      std::optional<uint64_t> out;
      auto err
        = walk_index(txn, parts_, u32be_key(p), std::max<position>(pos, 1), run,
                     "partition " + std::to_string(p),
                     [&](position, uint64_t seq, bool& stop) {
                       out = seq;
                       stop = true;
                       return caf::error{};
                     });
      if (err)
        return err;
      return out;
    });
}

caf::expected<revision>
lmdb_journal::last_revision(const stream_id& stream) const {
  auto skey = stream_key(stream);
  revision in_tail = 0;
  auto capture
    = [&](MDB_txn*, const index_tail& tail, const std::vector<position>&) {
        if (auto* r = tail.stream(skey))
          in_tail = r->last();
      };
  return with_read_view(capture, [&](MDB_txn* txn) -> caf::expected<revision> {
    cursor_guard idx;
    if (auto rc = mdb_cursor_open(txn, streams_, &idx.cur); rc != 0)
      return lmdb_error(rc, "open cursor");
    revision last = 0;
    if (auto f = index_end_in(idx.cur, skey, last); f.rc)
      return lmdb_error(f.rc, f.what);
    return std::max(last, in_tail);
  });
}

caf::expected<std::vector<position>> lmdb_journal::partition_ends() const {
  std::vector<position> out;
  auto capture = [&](MDB_txn*, const index_tail&,
                     const std::vector<position>& ends) { out = ends; };
  return with_read_view(capture,
                        [&](MDB_txn*) -> caf::expected<std::vector<position>> {
                          return std::move(out);
                        });
}

caf::expected<uint64_t> lmdb_journal::partition_epoch(partition_id p) const {
  return with_read_txn([&](MDB_txn* txn) -> caf::expected<uint64_t> {
    uint64_t epoch = 0;
    if (auto f = read_epoch(txn, p, epoch); f.rc != 0)
      return lmdb_error(f.rc, f.what);
    return epoch;
  });
}

caf::expected<std::vector<epoch_start>>
lmdb_journal::partition_lineage(partition_id p) const {
  if (p >= partitions_)
    return make_error(journal_errc::invalid_argument,
                      "partition " + std::to_string(p) + " out of range");
  return with_read_txn(
    [&](MDB_txn* txn) -> caf::expected<std::vector<epoch_start>> {
      std::vector<epoch_start> out;
      cursor_guard cur;
      if (auto rc = mdb_cursor_open(txn, lineage_, &cur.cur); rc != 0)
        return lmdb_error(rc, "open cursor");
      auto prefix = u32be_key(p);
      MDB_val k = to_val(prefix), v;
      auto rc = mdb_cursor_get(cur.cur, &k, &v, MDB_SET_RANGE);
      while (rc == 0) {
        auto key = to_view(k);
        if (key.size() != 12 || !starts_with(key, prefix))
          break;
        byte_reader r{v.mv_data, v.mv_size};
        auto first = r.u64le();
        if (!r.ok())
          return make_error(journal_errc::corrupt_record,
                            "a lineage entry of partition " + std::to_string(p)
                              + " is malformed");
        out.push_back(epoch_start{suffix_u64be(key), first});
        rc = mdb_cursor_get(cur.cur, &k, &v, MDB_NEXT);
      }
      if (rc != 0 && rc != MDB_NOTFOUND)
        return lmdb_error(rc, "read lineage");
      return out;
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

caf::expected<journal_stats> lmdb_journal::stats() const {
  uint64_t unindexed = 0;
  auto capture
    = [&](MDB_txn*, const index_tail& tail, const std::vector<position>&) {
        unindexed = tail.stream_events();
      };
  return with_read_view(
    capture, [&](MDB_txn* txn) -> caf::expected<journal_stats> {
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
      st.remembered_commands = dedupe_.ids();
      st.dedupe_cache_bytes = dedupe_.bytes();
      st.unindexed_events = unindexed;
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

} // namespace annals::detail
