// annals -- event-sourced aggregates on the C++ Actor Framework.
// Part of the replication core: every partition replica of one node over
// its journal, without actors or sockets.
#include "replication/replication_host.hpp"

#include "replication/event_entry.hpp"
#include "replication/wire.hpp"

#include <iterator>

namespace annals::replication {

namespace {

/// Whether every entry a frame carries is an event: checked before the
/// replica acts on the frame (it may truncate its log for it).
bool entries_decode(const message& msg) {
  const std::vector<log_entry>* entries = nullptr;
  if (auto* x = std::get_if<replicate>(&msg)) {
    entries = &x->entries;
  } else if (auto* y = std::get_if<pull_reply>(&msg)) {
    entries = &y->entries;
  }
  if (entries == nullptr) {
    return true;
  }
  for (const auto& entry : *entries) {
    if (!decode_entry(entry.payload)) {
      return false;
    }
  }
  return true;
}

} // namespace

replication_host::replication_host(journal& j, bool group_commit)
  : journal_(j),
    stage_(group_commit ? std::make_unique<write_stage>(j) : nullptr) {
}

caf::error replication_host::assign(partition_id p, replica_id self,
                                    host_output& out) {
  if (auto i = slots_.find(p); i != slots_.end()) {
    if (i->second.self == self) {
      return {};
    }
    unassign(p, out);
  }
  auto log = journal_log::open(journal_, p, stage_.get());
  if (!log) {
    return std::move(log.error());
  }
  slot s;
  s.self = self;
  s.log = std::move(*log);
  replica_config cfg;
  cfg.self = self;
  s.r = std::make_unique<replica>(cfg, *s.log);
  s.last_epoch = s.r->epoch();
  slots_.emplace(p, std::move(s));
  return {};
}

void replication_host::unassign(partition_id p, host_output& out) {
  auto i = slots_.find(p);
  if (i == slots_.end()) {
    return;
  }
  if (i->second.held_epoch != 0) {
    out.changes.push_back({partition_change::kind::lost, p,
                           i->second.held_epoch, i->second.last_hw});
  }
  dirty_.erase(p);
  holding_.erase(p);
  slots_.erase(i);
}

void replication_host::reset(partition_id p, host_output& out) {
  auto i = slots_.find(p);
  if (i == slots_.end()) {
    return;
  }
  auto self = i->second.self;
  unassign(p, out);
  static_cast<void>(assign(p, self));
}

caf::error replication_host::flush(host_output& out) {
  if (!stage_) {
    return {};
  }
  auto err = stage_->flush();
  for (auto p : stage_->take_failed()) {
    reset(p, out);
  }
  for (auto p : std::set<partition_id>{holding_}) {
    if (auto i = slots_.find(p); i != slots_.end()) {
      release(p, i->second, out);
    }
  }
  auto dirty = std::exchange(dirty_, {});
  for (auto p : dirty) {
    auto i = slots_.find(p);
    if (i == slots_.end()) {
      continue;
    }
    effects fx;
    fx.sync_needed = true;
    after(p, i->second, fx, out);
  }
  return err;
}

caf::error replication_host::appoint(partition_id p, uint64_t epoch,
                                     const membership& members,
                                     const membership& learners,
                                     host_output& out) {
  auto i = slots_.find(p);
  if (i == slots_.end()) {
    return make_error(replication_errc::not_a_voter);
  }
  effects fx;
  auto err = i->second.r->appoint(epoch, members, learners, fx);
  after(p, i->second, fx, out);
  return err;
}

caf::error replication_host::raise_fences(
  const std::vector<std::pair<partition_id, uint64_t>>& appointments) {
  write_batch batch;
  std::vector<std::pair<journal_log*, uint64_t>> logs;
  for (auto [p, epoch] : appointments) {
    auto i = slots_.find(p);
    if (i == slots_.end() || i->second.log->staged()
        || epoch <= i->second.log->fence()) {
      continue;
    }
    batch.fences.push_back({p, epoch});
    logs.emplace_back(i->second.log.get(), epoch);
  }
  if (batch.fences.empty()) {
    return {};
  }
  if (auto res = journal_.commit(batch); !res) {
    return std::move(res.error());
  }
  for (auto [log, epoch] : logs) {
    log->fenced(epoch);
  }
  return {};
}

void replication_host::set_learners(partition_id p, const membership& learners,
                                    host_output& out) {
  auto i = slots_.find(p);
  if (i == slots_.end()) {
    return;
  }
  effects fx;
  i->second.r->set_learners(learners, fx);
  after(p, i->second, fx, out);
}

caf::error replication_host::reconfigure(partition_id p, uint64_t epoch,
                                         const membership& members,
                                         host_output& out) {
  auto i = slots_.find(p);
  if (i == slots_.end()) {
    return make_error(replication_errc::not_leader);
  }
  effects fx;
  auto err = i->second.r->reconfigure(epoch, members, fx);
  after(p, i->second, fx, out);
  return err;
}

void replication_host::receive(partition_id p, std::string_view bytes,
                               host_output& out) {
  auto i = slots_.find(p);
  auto msg = decode_message(bytes);
  if (i == slots_.end() || !msg || !entries_decode(*msg)) {
    ++dropped_frames_;
    return;
  }
  effects fx;
  i->second.r->receive(*msg, fx);
  after(p, i->second, fx, out);
}

void replication_host::committed(partition_id p, position end, uint64_t epoch,
                                 host_output& out) {
  auto i = slots_.find(p);
  if (i == slots_.end()) {
    return;
  }
  effects fx;
  if (i->second.log->advance(end, epoch)) {
    return; // the next commit or tick tries again
  }
  i->second.r->on_synced(fx);
  after(p, i->second, fx, out);
}

void replication_host::tick(host_output& out) {
  for (auto& [p, s] : slots_) {
    effects fx;
    s.r->tick(fx);
    after(p, s, fx, out);
  }
}

const replica* replication_host::find(partition_id p) const {
  auto i = slots_.find(p);
  return i == slots_.end() ? nullptr : i->second.r.get();
}

void replication_host::release(partition_id p, slot& s, host_output& out) {
  if (s.log->staged()) {
    return;
  }
  auto& w = s.withheld;
  std::move(w.frames.begin(), w.frames.end(), std::back_inserter(out.frames));
  std::move(w.changes.begin(), w.changes.end(),
            std::back_inserter(out.changes));
  w.frames.clear();
  w.changes.clear();
  holding_.erase(p);
}

void replication_host::after(partition_id p, slot& s, effects& fx,
                             host_output& to) {
  // A staged write waits for `flush`; any other journal_log write is
  // durable when it returns: report it synced until the replica has
  // nothing more to write.
  for (int rounds = 0; fx.sync_needed && rounds < 16; ++rounds) {
    fx.sync_needed = false;
    if (s.log->durable_end() < s.log->end()) {
      dirty_.insert(p);
      break;
    }
    s.r->on_synced(fx);
  }
  // Outputs wait for the fsync: what a replica with staged writes says
  // leaves with the flush (and after what it withheld before).
  if (holding_.count(p) != 0) {
    release(p, s, to);
  }
  bool withhold = s.log->staged();
  auto& out = withhold ? s.withheld : to;
  auto before = out.frames.size() + out.changes.size();
  for (auto& env : fx.messages) {
    out.frames.push_back({env.to, p, encode_message(env.msg)});
  }
  auto& r = *s.r;
  auto now = r.current_phase();
  auto epoch = r.epoch();
  // Replies the runtime holds for `held_epoch` survive a re-appointment of
  // this leader at exactly the next epoch: no other replica led in between,
  // so its log is the most up-to-date of any majority it fences, and the
  // next epoch commits all of it (its marker comes after). Anything else
  // ends them: they may or may not commit.
  if (s.held_epoch != 0 && s.last_phase == phase::leader
      && s.held_epoch == s.last_epoch && epoch == s.last_epoch + 1
      && (now == phase::fencing || now == phase::leader)) {
    out.changes.push_back(
      {partition_change::kind::carried, p, epoch, 0, s.held_epoch});
    s.held_epoch = epoch;
    s.last_hw = 0;
  } else if (s.held_epoch != 0
             && (epoch != s.held_epoch
                 || (now != phase::fencing && now != phase::leader))) {
    out.changes.push_back(
      {partition_change::kind::lost, p, s.held_epoch, s.last_hw});
    s.held_epoch = 0;
    s.last_hw = 0;
  }
  if (now == phase::leader
      && (s.last_phase != phase::leader || epoch != s.last_epoch)) {
    out.changes.push_back(
      {partition_change::kind::serving, p, epoch, r.epoch_start()});
    s.held_epoch = epoch;
    s.last_hw = 0;
  }
  if (now == phase::leader && r.high_watermark() > s.last_hw) {
    s.last_hw = r.high_watermark();
    out.changes.push_back(
      {partition_change::kind::committed, p, r.epoch(), s.last_hw});
  }
  if (r.high_watermark() > s.last_visible) {
    s.last_visible = r.high_watermark();
    out.changes.push_back(
      {partition_change::kind::visible, p, r.epoch(), s.last_visible});
  }
  s.last_phase = now;
  s.last_epoch = r.epoch();
  if (withhold && out.frames.size() + out.changes.size() > before) {
    holding_.insert(p);
  }
}

} // namespace annals::replication
