// annals -- event-sourced aggregates on the C++ Actor Framework.
// Journal format 1, frozen (see format1.hpp).
#include "format1.hpp"

#include "annals/persistence/errc.hpp"

#include "codec.hpp"
#include "lmdb_errors.hpp"
#include "lmdb_support.hpp"

#include <lmdb.h>

namespace annals::detail::format1 {

// -- keys and values ----------------------------------------------------------

std::string stream_key(const stream_id& s) {
  std::string out;
  byte_writer w{out};
  w.u16be(static_cast<uint16_t>(s.category.size()));
  w.raw(s.category.data(), s.category.size());
  w.u16be(static_cast<uint16_t>(s.id.size()));
  w.raw(s.id.data(), s.id.size());
  return out;
}

std::string log_key(partition_id p, position pos) {
  std::string out;
  byte_writer w{out};
  w.u32be(p);
  w.u64be(pos);
  return out;
}

bool parse_log_key(std::string_view key, partition_id& p, position& pos) {
  if (key.size() != 12)
    return false;
  byte_reader r{key.data(), key.size()};
  p = r.u32be();
  pos = r.u64be();
  return r.ok();
}

std::string stream_rev_key(const std::string& skey, revision r) {
  auto out = skey;
  byte_writer{out}.u64be(r);
  return out;
}

std::string checkpoint_key(std::string_view consumer, partition_id p) {
  std::string out;
  byte_writer w{out};
  w.u16be(static_cast<uint16_t>(consumer.size()));
  w.raw(consumer.data(), consumer.size());
  w.u32be(p);
  return out;
}

std::string model_key(std::string_view model, std::string_view key) {
  std::string out;
  byte_writer w{out};
  w.u16be(static_cast<uint16_t>(model.size()));
  w.raw(model.data(), model.size());
  w.raw(key.data(), key.size());
  return out;
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

std::string encode_range(const stream_range& x) {
  std::string out;
  byte_writer w{out};
  w.u32le(x.partition);
  w.u64le(x.first_position);
  w.u64le(x.first_revision);
  return out;
}

bool decode_range(std::string_view v, stream_range& x) {
  byte_reader r{v.data(), v.size()};
  x.partition = r.u32le();
  x.first_position = r.u64le();
  x.first_revision = r.u64le();
  return r.ok() && r.remaining() == 0;
}

std::string encode_command(const command_entry& x) {
  std::string out;
  byte_writer w{out};
  w.u32le(x.partition);
  w.u64le(x.first_revision);
  w.u64le(x.last_revision);
  w.u64le(x.first_position);
  w.u64le(x.last_position);
  w.u64le(static_cast<uint64_t>(x.timestamp_ns));
  w.u64le(x.order);
  return out;
}

bool decode_command(std::string_view v, command_entry& x) {
  byte_reader r{v.data(), v.size()};
  x.partition = r.u32le();
  x.first_revision = r.u64le();
  x.last_revision = r.u64le();
  x.first_position = r.u64le();
  x.last_position = r.u64le();
  x.timestamp_ns = static_cast<int64_t>(r.u64le());
  x.order = r.u64le();
  return r.ok() && r.remaining() == 0;
}

// -- reader -------------------------------------------------------------------

struct reader::impl {
  std::string dir;
  MDB_env* env = nullptr;
  MDB_txn* txn = nullptr;
  MDB_dbi meta = 0, log = 0, streams = 0, commands = 0, snapshots = 0,
          checkpoints = 0, models = 0, epochs = 0;
  uint32_t partitions = 0;

  ~impl() {
    if (txn != nullptr)
      mdb_txn_abort(txn);
    if (env != nullptr)
      mdb_env_close(env);
  }

  caf::error open();

  /// Reads the append that starts at log entry (p, pos) whose first record
  /// is `first`; leaves `log` on the append's last entry.
  caf::error read_append(MDB_cursor* log_cur, MDB_cursor* streams_cur,
                         partition_id p, position pos, recorded_event first,
                         stored_append& out) const;

  caf::error corrupt(partition_id p, position pos,
                     const std::string& what) const {
    return make_error(journal_errc::corrupt_record,
                      "format-1 journal in " + dir + ", partition "
                        + std::to_string(p) + " position " + std::to_string(pos)
                        + ": " + what);
  }
};

caf::error reader::impl::open() {
  if (auto rc = mdb_env_create(&env); rc != 0) {
    env = nullptr;
    return lmdb_error(rc, "mdb_env_create");
  }
  mdb_env_set_maxdbs(env, 16);
  if (auto rc = mdb_env_open(env, dir.c_str(), MDB_RDONLY | MDB_NOTLS, 0644);
      rc != 0)
    return lmdb_error(rc, "open LMDB environment in " + dir + " read-only");
  if (auto rc = mdb_env_set_mapsize(env, 0); rc != 0)
    return lmdb_error(rc, "adopt the map size of " + dir);
  if (auto rc = mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn); rc != 0) {
    txn = nullptr;
    return lmdb_error(rc, "begin read transaction in " + dir);
  }
  // The format version first: a journal of another format may lack tables.
  auto rc = mdb_dbi_open(txn, "meta", 0, &meta);
  if (rc == MDB_NOTFOUND)
    return make_error(journal_errc::unsupported_format,
                      dir + " holds no format-1 journal (no meta table)");
  if (rc != 0)
    return lmdb_error(rc, "open table meta of " + dir);
  auto fmt_key = std::string_view{"format"};
  MDB_val k = to_val(fmt_key), v;
  rc = mdb_get(txn, meta, &k, &v);
  if (rc == MDB_NOTFOUND)
    return make_error(journal_errc::unsupported_format,
                      dir + " holds no format-1 journal (no format version)");
  if (rc != 0)
    return lmdb_error(rc, "read the format version of " + dir);
  byte_reader fr{v.mv_data, v.mv_size};
  auto stored = fr.u32le();
  if (!fr.ok() || fr.remaining() != 0)
    return make_error(journal_errc::unsupported_format,
                      dir + " holds no format-1 journal (format version of "
                        + std::to_string(v.mv_size) + " bytes)");
  if (stored != version)
    return make_error(journal_errc::unsupported_format,
                      dir + " holds a journal of format version "
                        + std::to_string(stored) + ", not 1");
  std::array<MDB_dbi*, 9> handles{&meta,        &log,    &streams,
                                  &commands,    nullptr, &snapshots,
                                  &checkpoints, &models, &epochs};
  for (std::size_t i = 1; i < tables.size(); ++i) {
    MDB_dbi scratch = 0;
    auto* dbi = handles[i] != nullptr ? handles[i] : &scratch;
    rc = mdb_dbi_open(txn, tables[i], 0, dbi);
    if (rc == MDB_NOTFOUND)
      return make_error(journal_errc::corrupt_storage, "format-1 journal in "
                                                         + dir + " lacks table "
                                                         + tables[i]);
    if (rc != 0)
      return lmdb_error(rc, std::string{"open table "} + tables[i]);
  }
  auto part_key = std::string_view{"partitions"};
  k = to_val(part_key);
  if ((rc = mdb_get(txn, meta, &k, &v)) != 0)
    return rc == MDB_NOTFOUND
             ? make_error(journal_errc::corrupt_storage,
                          "format-1 journal in " + dir
                            + " has no partition count")
             : lmdb_error(rc, "read the partition count of " + dir);
  byte_reader pr{v.mv_data, v.mv_size};
  partitions = pr.u32le();
  if (!pr.ok() || partitions == 0)
    return make_error(journal_errc::corrupt_storage,
                      "partition count of " + dir + " is unreadable");
  return {};
}

caf::error reader::impl::read_append(MDB_cursor* log_cur,
                                     MDB_cursor* streams_cur, partition_id p,
                                     position pos, recorded_event first,
                                     stored_append& out) const {
  auto skey = stream_key(first.stream);
  auto probe = stream_rev_key(skey, first.rev);
  MDB_val k = to_val(probe), v;
  auto rc = mdb_cursor_get(streams_cur, &k, &v, MDB_SET_RANGE);
  if (rc != 0 && rc != MDB_NOTFOUND)
    return lmdb_error(rc, "read the stream index of " + dir);
  auto key = to_view(k);
  stream_range range;
  if (rc == MDB_NOTFOUND || key.size() != skey.size() + 8
      || !starts_with(key, skey) || !decode_range(to_view(v), range))
    return corrupt(p, pos,
                   "stream " + to_string(first.stream) + " revision "
                     + std::to_string(first.rev) + " has no index entry");
  auto last = suffix_u64be(key);
  if (range.first_revision != first.rev || range.partition != p
      || range.first_position != pos)
    return corrupt(p, pos,
                   "the index entry of stream " + to_string(first.stream)
                     + " revisions " + std::to_string(range.first_revision)
                     + ".." + std::to_string(last)
                     + " does not start an append here");
  out.stream = first.stream;
  out.command_id = first.meta.command_id;
  out.epoch = first.meta.epoch;
  out.dedupe = stored_append::remembered::no;
  out.events.clear();
  out.events.push_back(std::move(first));
  for (auto rev = range.first_revision + 1; rev <= last; ++rev) {
    auto at = pos + (rev - range.first_revision);
    rc = mdb_cursor_get(log_cur, &k, &v, MDB_NEXT);
    if (rc != 0 && rc != MDB_NOTFOUND)
      return lmdb_error(rc, "read the log of " + dir);
    partition_id kp = 0;
    position kpos = 0;
    if (rc == MDB_NOTFOUND || !parse_log_key(to_view(k), kp, kpos) || kp != p
        || kpos != at)
      return corrupt(p, at,
                     "missing; the index promises stream "
                       + to_string(out.stream) + " revision "
                       + std::to_string(rev) + " here");
    auto where = "format-1 journal in " + dir + ", partition "
                 + std::to_string(p) + " position " + std::to_string(at);
    auto ev = decode_record(v.mv_data, v.mv_size, where);
    if (!ev)
      return std::move(ev.error());
    if (ev->stream != out.stream || ev->rev != rev || ev->partition != p
        || ev->pos != at || ev->meta.command_id != out.command_id
        || ev->meta.epoch != out.epoch)
      return corrupt(p, at,
                     "the record is not revision " + std::to_string(rev)
                       + " of stream " + to_string(out.stream)
                       + " in the append that the index promises");
    out.events.push_back(std::move(*ev));
  }
  if (out.command_id.empty())
    return {};
  auto ckey = skey + out.command_id;
  k = to_val(ckey);
  rc = mdb_get(txn, commands, &k, &v);
  if (rc == MDB_NOTFOUND)
    return {};
  if (rc != 0)
    return lmdb_error(rc, "read the dedupe table of " + dir);
  command_entry ce;
  if (!decode_command(to_view(v), ce))
    return make_error(journal_errc::corrupt_record,
                      "format-1 journal in " + dir + ": the dedupe entry of "
                        + to_string(out.stream) + " command " + out.command_id
                        + " is malformed");
  out.dedupe = ce.first_revision == range.first_revision
                 ? stored_append::remembered::this_one
                 : stored_append::remembered::other_one;
  return {};
}

reader::reader(std::unique_ptr<impl> self) : self_(std::move(self)) {
  partitions_ = self_->partitions;
  MDB_envinfo info;
  if (mdb_env_info(self_->env, &info) == 0)
    map_bytes_ = info.me_mapsize;
}

reader::~reader() = default;

caf::expected<std::unique_ptr<reader>> reader::open(const std::string& dir) {
  auto self = std::make_unique<impl>();
  self->dir = dir;
  if (auto err = self->open())
    return err;
  return std::unique_ptr<reader>{new reader(std::move(self))};
}

caf::expected<uint64_t> reader::event_count() const {
  MDB_stat st;
  if (auto rc = mdb_stat(self_->txn, self_->log, &st); rc != 0)
    return lmdb_error(rc, "stat the log of " + self_->dir);
  return uint64_t{st.ms_entries};
}

caf::error
reader::scan_appends(const std::function<caf::error(stored_append&)>& f) const {
  auto& s = *self_;
  cursor_guard log, streams;
  if (auto rc = mdb_cursor_open(s.txn, s.log, &log.cur); rc != 0)
    return lmdb_error(rc, "open cursor");
  if (auto rc = mdb_cursor_open(s.txn, s.streams, &streams.cur); rc != 0)
    return lmdb_error(rc, "open cursor");
  stored_append app;
  partition_id cur_p = 0;
  position expect = 1;
  bool any = false;
  MDB_val k, v;
  auto rc = mdb_cursor_get(log.cur, &k, &v, MDB_FIRST);
  while (rc == 0) {
    partition_id p = 0;
    position pos = 0;
    if (!parse_log_key(to_view(k), p, pos))
      return make_error(journal_errc::corrupt_record,
                        "format-1 journal in " + s.dir
                          + ": a log key is malformed");
    if (p >= s.partitions)
      return s.corrupt(p, pos, "partition out of range");
    if (!any || p != cur_p) {
      any = true;
      cur_p = p;
      expect = 1;
    }
    if (pos != expect)
      return s.corrupt(p, pos,
                       "gap: expected position " + std::to_string(expect));
    auto where = "format-1 journal in " + s.dir + ", partition "
                 + std::to_string(p) + " position " + std::to_string(pos);
    auto ev = decode_record(v.mv_data, v.mv_size, where);
    if (!ev)
      return std::move(ev.error());
    if (ev->partition != p || ev->pos != pos)
      return s.corrupt(p, pos,
                       "the record claims partition "
                         + std::to_string(ev->partition) + " position "
                         + std::to_string(ev->pos));
    if (auto err
        = s.read_append(log.cur, streams.cur, p, pos, std::move(*ev), app))
      return err;
    expect = pos + app.events.size();
    if (auto err = f(app))
      return err;
    rc = mdb_cursor_get(log.cur, &k, &v, MDB_NEXT);
  }
  if (rc != MDB_NOTFOUND)
    return lmdb_error(rc, "read the log of " + s.dir);
  return {};
}

caf::error
reader::scan_snapshots(const std::function<caf::error(snapshot&)>& f) const {
  auto& s = *self_;
  cursor_guard cur;
  if (auto rc = mdb_cursor_open(s.txn, s.snapshots, &cur.cur); rc != 0)
    return lmdb_error(rc, "open cursor");
  MDB_val k, v;
  auto rc = mdb_cursor_get(cur.cur, &k, &v, MDB_FIRST);
  while (rc == 0) {
    auto key = to_view(k);
    auto where = "format-1 journal in " + s.dir + ": a snapshot";
    auto snap = decode_snapshot(v.mv_data, v.mv_size, where);
    if (!snap)
      return std::move(snap.error());
    if (key != stream_rev_key(stream_key(snap->stream), snap->rev))
      return make_error(journal_errc::corrupt_snapshot,
                        where + " of stream " + to_string(snap->stream)
                          + " revision " + std::to_string(snap->rev)
                          + " is stored under another key");
    if (auto err = f(*snap))
      return err;
    rc = mdb_cursor_get(cur.cur, &k, &v, MDB_NEXT);
  }
  if (rc != MDB_NOTFOUND)
    return lmdb_error(rc, "read the snapshots of " + s.dir);
  return {};
}

caf::error reader::scan_checkpoints(
  const std::function<caf::error(std::string_view, partition_id, position)>& f)
  const {
  auto& s = *self_;
  cursor_guard cur;
  if (auto rc = mdb_cursor_open(s.txn, s.checkpoints, &cur.cur); rc != 0)
    return lmdb_error(rc, "open cursor");
  MDB_val k, v;
  auto rc = mdb_cursor_get(cur.cur, &k, &v, MDB_FIRST);
  while (rc == 0) {
    byte_reader kr{k.mv_data, k.mv_size};
    std::size_t len = kr.u16be();
    byte_reader vr{v.mv_data, v.mv_size};
    auto pos = vr.u64le();
    if (!kr.ok() || k.mv_size != 2 + len + 4 || !vr.ok() || vr.remaining() != 0)
      return make_error(journal_errc::corrupt_record,
                        "format-1 journal in " + s.dir
                          + ": a checkpoint is malformed");
    auto* base = static_cast<const char*>(k.mv_data);
    byte_reader pr{base + 2 + len, 4};
    auto p = pr.u32be();
    if (auto err = f(std::string_view{base + 2, len}, p, pos))
      return err;
    rc = mdb_cursor_get(cur.cur, &k, &v, MDB_NEXT);
  }
  if (rc != MDB_NOTFOUND)
    return lmdb_error(rc, "read the checkpoints of " + s.dir);
  return {};
}

caf::error reader::scan_models(
  const std::function<caf::error(std::string_view, std::string_view,
                                 std::string_view)>& f) const {
  auto& s = *self_;
  cursor_guard cur;
  if (auto rc = mdb_cursor_open(s.txn, s.models, &cur.cur); rc != 0)
    return lmdb_error(rc, "open cursor");
  MDB_val k, v;
  auto rc = mdb_cursor_get(cur.cur, &k, &v, MDB_FIRST);
  while (rc == 0) {
    byte_reader kr{k.mv_data, k.mv_size};
    std::size_t len = kr.u16be();
    if (!kr.ok() || k.mv_size < 2 + len)
      return make_error(journal_errc::corrupt_record,
                        "format-1 journal in " + s.dir
                          + ": a read-model key is malformed");
    auto key = to_view(k);
    if (auto err = f(key.substr(2, len), key.substr(2 + len), to_view(v)))
      return err;
    rc = mdb_cursor_get(cur.cur, &k, &v, MDB_NEXT);
  }
  if (rc != MDB_NOTFOUND)
    return lmdb_error(rc, "read the read models of " + s.dir);
  return {};
}

caf::error reader::scan_epochs(
  const std::function<caf::error(partition_id, uint64_t)>& f) const {
  auto& s = *self_;
  cursor_guard cur;
  if (auto rc = mdb_cursor_open(s.txn, s.epochs, &cur.cur); rc != 0)
    return lmdb_error(rc, "open cursor");
  MDB_val k, v;
  auto rc = mdb_cursor_get(cur.cur, &k, &v, MDB_FIRST);
  while (rc == 0) {
    byte_reader kr{k.mv_data, k.mv_size};
    auto p = kr.u32be();
    byte_reader vr{v.mv_data, v.mv_size};
    auto epoch = vr.u64le();
    if (!kr.ok() || kr.remaining() != 0 || !vr.ok() || vr.remaining() != 0
        || p >= s.partitions)
      return make_error(journal_errc::corrupt_record,
                        "format-1 journal in " + s.dir
                          + ": an epoch entry is malformed");
    if (auto err = f(p, epoch))
      return err;
    rc = mdb_cursor_get(cur.cur, &k, &v, MDB_NEXT);
  }
  if (rc != MDB_NOTFOUND)
    return lmdb_error(rc, "read the epochs of " + s.dir);
  return {};
}

} // namespace annals::detail::format1
