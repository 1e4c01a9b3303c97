// annals -- event-sourced aggregates on the C++ Actor Framework.
// Part of the replication core: one replica of one partition as a pure
// state machine.
#include "replication/replica.hpp"

#include "annals/persistence/errc.hpp"

#include <algorithm>
#include <functional>

namespace annals::replication {

caf::error make_error(replication_errc x) {
  return caf::error{static_cast<uint8_t>(x), replication_category};
}

bool is(const caf::error& err, replication_errc x) noexcept {
  return err.category() == replication_category
         && err.code() == static_cast<uint8_t>(x);
}

const char* to_string(phase x) noexcept {
  switch (x) {
  case phase::follower:
    return "follower";
  case phase::fencing:
    return "fencing";
  case phase::recovering:
    return "recovering";
  case phase::leader:
    return "leader";
  }
  return "?";
}

replica::replica(replica_config cfg, replica_log& log)
  : cfg_(cfg), log_(log), epoch_(log.fence()) {
}

// -- phase changes ------------------------------------------------------------

void replica::set_phase(phase next, effects& out) {
  if (phase_ == phase::leader && next != phase::leader) {
    out.leadership_lost = true;
  }
  if (next == phase::follower) {
    members_.clear();
    votes_.clear();
    best_.reset();
    followers_.clear();
    epoch_start_ = 0;
  }
  phase_ = next;
}

bool replica::follow(uint64_t epoch, std::optional<replica_id> leader,
                     effects& out) {
  if (epoch > log_.fence()) {
    if (auto err = log_.raise_fence(epoch)) {
      return false;
    }
  }
  if (epoch != epoch_ || leader != leader_) {
    matched_ = 0;
  }
  epoch_ = epoch;
  leader_ = leader;
  set_phase(phase::follower, out);
  return true;
}

// -- inputs -------------------------------------------------------------------

caf::error replica::appoint(uint64_t epoch, const membership& members,
                            const membership& learners, effects& out) {
  // An epoch is led at most once: refused if the log is fenced above it,
  // or at it by this replica (it followed or led it, or it restarted
  // fenced at it). A fence its host raised for it just now
  // (`replication_host::raise_fences`) is no bar: epoch_ is still below.
  if (epoch < log_.fence() || (epoch == log_.fence() && epoch_ >= epoch)) {
    return make_error(replication_errc::stale_epoch);
  }
  auto self
    = std::find_if(members.begin(), members.end(),
                   [this](const member& m) { return m.id == cfg_.self; });
  if (self == members.end() || self->incarnation != log_.incarnation()) {
    return make_error(replication_errc::not_a_voter);
  }
  if (auto err = log_.raise_fence(epoch)) {
    return err;
  }
  epoch_ = epoch;
  leader_ = cfg_.self;
  set_phase(phase::fencing, out);
  members_ = members;
  votes_.clear();
  best_.reset();
  followers_.clear();
  for (const auto& m : members_) {
    if (m.id != cfg_.self) {
      followers_.push_back({m.id, m.incarnation, m.incarnation, 0, 0, 1});
    }
  }
  set_learners(learners, out);
  // Our own vote: the fence made everything written durable.
  auto durable = log_.durable_end();
  votes_.push_back(fence_reply{epoch, cfg_.self, log_.incarnation(), epoch,
                               lineage_until(log_.entries_lineage(), durable),
                               durable});
  if (planted(planted_bug::skip_fence)) {
    best_ = votes_.front();
    serve(out);
    return {};
  }
  tick(out);
  check_fence_quorum(out);
  return {};
}

caf::expected<position> replica::propose(std::vector<std::string> payloads,
                                         effects& out) {
  if (phase_ != phase::leader) {
    return make_error(replication_errc::not_leader);
  }
  if (payloads.empty()) {
    return make_error(journal_errc::invalid_argument);
  }
  std::vector<log_entry> entries;
  entries.reserve(payloads.size());
  for (auto& payload : payloads) {
    entries.push_back(log_entry{epoch_, std::move(payload), false});
  }
  entries.back().ends_append = true;
  if (auto err = log_.append(log_.end(), epoch_, entries)) {
    step_down(out);
    return err;
  }
  out.sync_needed = true;
  return log_.end();
}

void replica::receive(const message& msg, effects& out) {
  std::visit(
    [this, &out](const auto& x) {
      using type = std::decay_t<decltype(x)>;
      if constexpr (std::is_same_v<type, fence_request>) {
        on_fence_request(x, out);
      } else if constexpr (std::is_same_v<type, fence_reply>) {
        on_fence_reply(x, out);
      } else if constexpr (std::is_same_v<type, pull_request>) {
        on_pull_request(x, out);
      } else if constexpr (std::is_same_v<type, pull_reply>) {
        on_pull_reply(x, out);
      } else if constexpr (std::is_same_v<type, replicate>) {
        on_replicate(x, out);
      } else {
        on_replicate_reply(x, out);
      }
    },
    msg);
}

caf::error replica::reconfigure(uint64_t epoch, const membership& members,
                                effects&) {
  if (phase_ != phase::leader || epoch != epoch_) {
    return make_error(replication_errc::not_leader);
  }
  auto same_ids
    = members.size() == members_.size()
      && std::all_of(members.begin(), members.end(), [this](const member& m) {
           return std::any_of(
             members_.begin(), members_.end(),
             [&m](const member& old) { return old.id == m.id; });
         });
  auto self_kept
    = std::any_of(members.begin(), members.end(), [this](const member& m) {
        return m.id == cfg_.self && m.incarnation == log_.incarnation();
      });
  if (!same_ids || !self_kept) {
    return make_error(replication_errc::invalid_membership);
  }
  members_ = members;
  for (auto& f : followers_) {
    for (const auto& m : members_) {
      if (m.id == f.id) {
        f.incarnation = m.incarnation;
      }
    }
  }
  update_hw();
  return {};
}

void replica::set_learners(const membership& learners, effects& out) {
  if (phase_ == phase::follower) {
    return;
  }
  std::vector<follower_progress> next;
  for (auto& f : followers_) {
    if (!f.learner) {
      next.push_back(std::move(f));
    }
  }
  auto voters = next.size();
  for (const auto& m : learners) {
    auto old = std::find_if(followers_.begin(), followers_.end(),
                            [&m](const follower_progress& f) {
                              return f.learner && f.seen == m.incarnation;
                            });
    auto clash = m.id == cfg_.self
                 || std::any_of(
                   next.begin(), next.end(),
                   [&m](const follower_progress& f) { return f.id == m.id; });
    if (clash) {
      continue; // a learner has an id of its own
    }
    if (old != followers_.end()) {
      auto kept = std::move(*old);
      kept.id = m.id;
      next.push_back(std::move(kept));
    } else {
      follower_progress f{m.id, m.incarnation, m.incarnation, 0, 0, 1};
      f.learner = true;
      next.push_back(std::move(f));
    }
  }
  followers_ = std::move(next);
  if (phase_ == phase::leader) {
    for (auto i = voters; i < followers_.size(); ++i) {
      if (followers_[i].matched == 0 && followers_[i].next == 1) {
        followers_[i].rewind(epoch_start_);
        ship(followers_[i], out);
      }
    }
  }
}

std::vector<member> replica::caught_up_learners() const {
  std::vector<member> out;
  if (phase_ != phase::leader || hw_ < epoch_start_) {
    return out;
  }
  for (const auto& f : followers_) {
    if (!f.counted() && f.matched >= hw_) {
      out.push_back({f.id, f.seen});
    }
  }
  return out;
}

void replica::on_synced(effects& out) {
  if (log_.durable_end() < log_.end()) {
    out.sync_needed = true;
  }
  if (phase_ == phase::leader) {
    for (auto& f : followers_) {
      if (f.next <= log_.durable_end()) {
        ship(f, out);
      }
    }
    update_hw();
  } else if (phase_ == phase::follower && leader_) {
    send_ack(std::min(matched_, log_.durable_end()), out);
  }
}

void replica::tick(effects& out) {
  switch (phase_) {
  case phase::follower:
    break;
  case phase::fencing:
    for (const auto& m : members_) {
      auto voted
        = std::any_of(votes_.begin(), votes_.end(),
                      [&m](const fence_reply& v) { return v.from == m.id; });
      if (!voted) {
        out.messages.push_back({m.id, fence_request{epoch_, cfg_.self}});
      }
    }
    break;
  case phase::recovering:
    request_pull(out);
    break;
  case phase::leader:
    for (auto& f : followers_) {
      // A follower silent for a whole tick: go back to what we know it
      // holds (shipped entries may be lost). One that answers is not sent
      // what is in flight again: a lost frame shows as a mismatch of the
      // next one, or as silence after the last one. Either way it gets a
      // replicate: what is new, or a heartbeat with the high watermark
      // (and a chance to answer that this leader was deposed).
      if (!f.heard) {
        f.rewind(std::max(f.matched, f.common) + 1);
      }
      ship(f, out, true);
      f.heard = false;
    }
    break;
  }
}

// -- leader side --------------------------------------------------------------

bool replica::is_voter(replica_id id, const std::string& incarnation) const {
  return std::any_of(members_.begin(), members_.end(), [&](const member& m) {
    return m.id == id
           && (m.incarnation == incarnation
               || planted(planted_bug::count_learners));
  });
}

replica::follower_progress*
replica::progress_of(replica_id id, const std::string& incarnation) {
  auto i = std::find_if(
    followers_.begin(), followers_.end(),
    [&](const follower_progress& f) { return f.seen == incarnation; });
  if (i == followers_.end()) {
    i = std::find_if(followers_.begin(), followers_.end(),
                     [id](const follower_progress& f) { return f.id == id; });
  }
  return i == followers_.end() ? nullptr : &*i;
}

void replica::step_down(effects& out) {
  // Our log failed us: stop leading this epoch (we never lead it again)
  // and follow whoever the controller appoints next.
  leader_.reset();
  matched_ = 0;
  set_phase(phase::follower, out);
}

void replica::step_down_if_deposed(uint64_t fence, effects& out) {
  if (fence > epoch_) {
    follow(fence, std::nullopt, out);
  }
}

void replica::on_fence_reply(const fence_reply& msg, effects& out) {
  step_down_if_deposed(msg.fence, out);
  if (phase_ != phase::fencing || msg.epoch != epoch_ || msg.fence != epoch_
      || !is_voter(msg.from, msg.incarnation)) {
    return;
  }
  auto known
    = std::any_of(votes_.begin(), votes_.end(),
                  [&msg](const fence_reply& v) { return v.from == msg.from; });
  if (!known) {
    votes_.push_back(msg);
  }
  check_fence_quorum(out);
}

void replica::check_fence_quorum(effects& out) {
  if (phase_ != phase::fencing || votes_.size() < majority()) {
    return;
  }
  // votes_.front() is our own: ties go to it (nothing to pull).
  const fence_reply* best = &votes_.front();
  for (const auto& v : votes_) {
    if (!at_least_as_up_to_date(best->log_lineage, best->end, v.log_lineage,
                                v.end)) {
      best = &v;
    }
  }
  best_ = *best;
  set_phase(phase::recovering, out);
  if (best_->from == cfg_.self) {
    serve(out);
    return;
  }
  auto common = common_prefix(log_.entries_lineage(), log_.end(),
                              best_->log_lineage, best_->end);
  pull_from_ = common + 1;
  pull_next_ = pull_from_;
  request_pull(out);
}

void replica::request_pull(effects& out) {
  out.messages.push_back(
    {best_->from, pull_request{epoch_, cfg_.self, pull_next_, best_->end}});
}

void replica::on_pull_reply(const pull_reply& msg, effects& out) {
  step_down_if_deposed(msg.fence, out);
  if (phase_ != phase::recovering || msg.epoch != epoch_ || msg.fence != epoch_
      || msg.from != best_->from || msg.incarnation != best_->incarnation
      || msg.first != pull_next_) {
    return; // stale or duplicated: the tick asks again
  }
  auto wanted = best_->end >= pull_next_ ? best_->end - pull_next_ + 1 : 0;
  if (msg.entries.empty() || msg.entries.size() > wanted
      || !msg.entries.back().ends_append) {
    return; // it lost part of what it reported: retry (or be re-appointed)
  }
  // The first chunk cuts our divergent suffix (durably). A crash between
  // chunks leaves a prefix of best_'s log: a state any follower may be in.
  if (pull_next_ == pull_from_) {
    if (auto err = log_.truncate(pull_from_ - 1)) {
      step_down(out);
      return;
    }
  }
  if (auto err = log_.append(log_.end(), epoch_, msg.entries)) {
    step_down(out);
    return;
  }
  pull_next_ += msg.entries.size();
  if (pull_next_ <= best_->end) {
    out.sync_needed = true;
    request_pull(out);
    return;
  }
  serve(out);
}

void replica::serve(effects& out) {
  // The marker records in the lineage where this epoch starts; the high
  // watermark may count replicas only once they hold it.
  if (auto err = log_.append_marker(log_.end(), epoch_)) {
    step_down(out);
    return;
  }
  epoch_start_ = log_.end();
  out.sync_needed = true;
  for (auto& f : followers_) {
    f.matched = 0;
    f.common = 0;
    f.rewind(epoch_start_);
    if (planted(planted_bug::count_old_epoch)) {
      for (const auto& v : votes_) {
        if (v.from == f.id) {
          f.matched = v.end;
        }
      }
    }
  }
  set_phase(phase::leader, out);
  for (auto& f : followers_) {
    ship(f, out);
  }
  update_hw();
}

void replica::ship(follower_progress& f, effects& out, bool always) {
  auto prev = f.next - 1;
  auto window_full = prev >= f.base + cfg_.max_in_flight;
  if (window_full && !always) {
    return;
  }
  std::vector<log_entry> entries;
  if (log_.durable_end() > prev && !window_full) {
    auto batch = read_batch(f.next, log_.durable_end());
    if (!batch) {
      return;
    }
    entries = std::move(*batch);
  }
  f.next = prev + entries.size() + 1;
  out.messages.push_back(
    {f.id,
     replicate{epoch_, cfg_.self, prev, epoch_at(log_.entries_lineage(), prev),
               std::move(entries), hw_}});
}

std::optional<std::vector<log_entry>> replica::read_batch(position first,
                                                          position last) const {
  std::vector<log_entry> out;
  std::size_t bytes = 0;
  auto full = [&] {
    return out.size() >= cfg_.max_batch || bytes >= cfg_.max_batch_bytes;
  };
  // Never split an append: `last` (a durable end) is an append's end.
  auto done = [&] {
    return !out.empty() && full()
           && (out.back().ends_append || planted(planted_bug::split_appends));
  };
  auto next = first;
  while (next <= last && !done()) {
    // The first read takes a whole batch; reads past it complete an append.
    auto slice = out.empty() ? std::max<std::size_t>(cfg_.max_batch, 1) : 8;
    auto to = std::min<position>(last, next + slice - 1);
    auto read = log_.read(next, to);
    if (!read || read->size() != to - next + 1) {
      return std::nullopt;
    }
    for (auto& entry : *read) {
      if (done()) {
        break;
      }
      bytes += entry.payload.size();
      out.push_back(std::move(entry));
      ++next;
    }
  }
  return out;
}

void replica::on_replicate_reply(const replicate_reply& msg, effects& out) {
  if (msg.outcome == replicate_outcome::refused) {
    step_down_if_deposed(msg.fence, out);
    return;
  }
  if (phase_ != phase::leader || msg.epoch != epoch_) {
    return;
  }
  auto* f = progress_of(msg.from, msg.incarnation);
  if (f == nullptr) {
    return;
  }
  f->heard = true;
  if (msg.incarnation != f->seen) {
    // Wiped and back (or back from a wipe we had not seen): start over. A
    // learner gets the log but is never counted.
    f->seen = msg.incarnation;
    f->matched = 0;
    f->common = 0;
    f->rewind(1);
  }
  if (msg.outcome == replicate_outcome::mismatch) {
    f->common = common_prefix(log_.entries_lineage(), log_.end(),
                              msg.log_lineage, msg.end);
    f->rewind(f->common + 1);
    ship(*f, out);
    return;
  }
  f->matched = std::max(f->matched, std::min(msg.end, log_.end()));
  f->common = std::max(f->common, f->matched);
  f->next = std::max(f->next, f->matched + 1);
  f->base = std::max(f->base, f->matched);
  update_hw();
  if (f->next <= log_.durable_end()) {
    ship(*f, out);
  }
}

void replica::update_hw() {
  if (phase_ != phase::leader) {
    return;
  }
  std::vector<position> held;
  held.push_back(log_.durable_end());
  for (const auto& f : followers_) {
    auto counted = f.counted() || planted(planted_bug::count_learners);
    held.push_back(counted ? f.matched : 0);
  }
  std::sort(held.begin(), held.end(), std::greater<>{});
  auto candidate = held[std::min(majority(), held.size()) - 1];
  if (planted(planted_bug::ack_on_leader_fsync)) {
    candidate = log_.durable_end();
  }
  if (candidate < epoch_start_ && !planted(planted_bug::count_old_epoch)
      && !planted(planted_bug::commit_before_epoch_start)) {
    return;
  }
  hw_ = std::max(hw_, candidate);
}

// -- follower side ------------------------------------------------------------

void replica::on_fence_request(const fence_request& msg, effects& out) {
  if (msg.epoch < log_.fence()) {
    out.messages.push_back(
      {msg.leader,
       fence_reply{
         msg.epoch, cfg_.self, log_.incarnation(), log_.fence(), {}, 0}});
    return;
  }
  if (msg.epoch == epoch_
      && (phase_ != phase::follower || (leader_ && *leader_ != msg.leader))) {
    return; // a second leader in one epoch: never ours to follow
  }
  if (!follow(msg.epoch, msg.leader, out)) {
    return;
  }
  // Report the durable log only: volatile entries may vanish in a crash.
  auto durable = log_.durable_end();
  out.messages.push_back(
    {msg.leader,
     fence_reply{msg.epoch, cfg_.self, log_.incarnation(), log_.fence(),
                 lineage_until(log_.entries_lineage(), durable), durable}});
}

void replica::on_pull_request(const pull_request& msg, effects& out) {
  pull_reply reply{msg.epoch,    cfg_.self, log_.incarnation(),
                   log_.fence(), msg.from,  {}};
  if (msg.epoch == log_.fence() && phase_ == phase::follower
      && leader_ == msg.leader) {
    // One chunk: the leader asks for the next one when it has this one.
    auto last = std::min(msg.to, log_.durable_end());
    if (msg.from <= last) {
      auto batch = read_batch(msg.from, last);
      if (!batch) {
        return;
      }
      reply.entries = std::move(*batch);
    }
  }
  out.messages.push_back({msg.leader, std::move(reply)});
}

void replica::on_replicate(const replicate& msg, effects& out) {
  if (msg.epoch < log_.fence()) {
    out.messages.push_back(
      {msg.leader, replicate_reply{msg.epoch,
                                   cfg_.self,
                                   log_.incarnation(),
                                   replicate_outcome::refused,
                                   log_.fence(),
                                   0,
                                   {}}});
    return;
  }
  if (msg.epoch == epoch_
      && (phase_ != phase::follower || (leader_ && *leader_ != msg.leader))) {
    return; // a second leader in one epoch: never ours to follow
  }
  if (msg.epoch > epoch_ || leader_ != msg.leader) {
    if (!follow(msg.epoch, msg.leader, out)) {
      return;
    }
  }
  const auto& lin = log_.entries_lineage();
  if (msg.prev > log_.end() || epoch_at(lin, msg.prev) != msg.prev_epoch) {
    out.messages.push_back(
      {msg.leader, replicate_reply{epoch_, cfg_.self, log_.incarnation(),
                                   replicate_outcome::mismatch, log_.fence(),
                                   log_.end(), lin}});
    return;
  }
  // Skip what we hold already (same epoch at a position = same entry); cut
  // our suffix at the first conflict.
  std::size_t i = 0;
  auto pos = msg.prev + 1;
  while (i < msg.entries.size() && pos <= log_.end()) {
    if (epoch_at(log_.entries_lineage(), pos) != msg.entries[i].epoch
        && !planted(planted_bug::no_truncation)) {
      if (auto err = log_.truncate(pos - 1)) {
        return;
      }
      break;
    }
    ++i;
    ++pos;
  }
  if (i < msg.entries.size()) {
    std::vector<log_entry> rest(
      msg.entries.begin() + static_cast<std::ptrdiff_t>(i), msg.entries.end());
    if (auto err = log_.append(log_.end(), log_.fence(), rest)) {
      return;
    }
  }
  matched_ = std::max<position>(matched_, msg.prev + msg.entries.size());
  hw_ = std::max(hw_, std::min(msg.hw, matched_));
  if (log_.durable_end() < log_.end()) {
    out.sync_needed = true;
    if (planted(planted_bug::follower_ack_before_fsync)) {
      send_ack(std::min(matched_, log_.end()), out);
    }
    return;
  }
  send_ack(std::min(matched_, log_.durable_end()), out);
}

void replica::send_ack(position end, effects& out) {
  out.messages.push_back({*leader_, replicate_reply{epoch_,
                                                    cfg_.self,
                                                    log_.incarnation(),
                                                    replicate_outcome::ack,
                                                    log_.fence(),
                                                    end,
                                                    {}}});
}

} // namespace annals::replication
