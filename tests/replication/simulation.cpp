// annals -- tests: a deterministic simulation of one partition's replicas.
#include "simulation.hpp"

#include <algorithm>
#include <array>
#include <cstdlib>
#include <map>
#include <optional>
#include <sstream>

namespace annals::testing {

uint64_t seed_count(uint64_t fallback) {
  if (const char* env = std::getenv("ANNALS_REPLICATION_SEEDS"))
    return std::strtoull(env, nullptr, 10);
  return fallback;
}

using namespace annals::replication;

namespace {

/// splitmix64: small, fast and the same on every platform and library.
class sim_rng {
public:
  explicit sim_rng(uint64_t seed) : state_(seed) {
  }

  uint64_t next() noexcept {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }

  /// Uniform in [0, n). @pre n > 0.
  uint64_t below(uint64_t n) noexcept {
    return next() % n;
  }

  /// Uniform in [lo, hi].
  uint64_t between(uint64_t lo, uint64_t hi) noexcept {
    return lo + below(hi - lo + 1);
  }

  bool percent(uint64_t p) noexcept {
    return below(100) < p;
  }

private:
  uint64_t state_;
};

constexpr uint64_t chaos_end = 150;
constexpr uint64_t quiet_limit = 600;
constexpr uint64_t tick_interval = 5;

enum class ev_kind : uint8_t {
  deliver,
  synced,
  tick,
  crash,
  restart,
  wipe,
  failover,
  appoint,
  move,
  client,
  quiet,
};

struct event {
  uint64_t time = 0;
  uint64_t seq = 0;
  ev_kind kind = ev_kind::tick;
  replica_id node = 0;
  uint64_t gen = 0;
  message msg;
};

struct later {
  bool operator()(const event& x, const event& y) const noexcept {
    return x.time != y.time ? x.time > y.time : x.seq > y.seq;
  }
};

struct pending_reply {
  uint64_t epoch = 0;
  position pos = 0;
  std::string payload;
  bool ends_append = true;
};

struct acked_entry {
  position pos = 0;
  log_entry entry;
};

struct sim_node {
  explicit sim_node(std::string inc) : log(std::move(inc)) {
  }
  memory_replica_log log;
  std::optional<replica> r;
  bool up = true;
  uint64_t gen = 0;
  bool sync_pending = false;
  position checked = 0;
  std::vector<pending_reply> replies;
};

const char* name_of(const message& msg) {
  static constexpr const char* names[]
    = {"fence_request", "fence_reply", "pull_request",
       "pull_reply",    "replicate",   "replicate_reply"};
  return names[msg.index()];
}

class simulation {
public:
  explicit simulation(const sim_options& opts) : opts_(opts), rng_(opts.seed) {
    count_ = opts.replicas != 0 ? opts.replicas : (rng_.percent(25) ? 5 : 3);
    // A spare node for the seeds that move replicas.
    moves_ = rng_.percent(opts.move_percent) ? rng_.between(1, 2) : 0;
    auto total = count_ + (moves_ > 0 ? 1 : 0);
    wipes_.resize(total);
    nodes_.reserve(total);
    for (replica_id i = 0; i < total; ++i) {
      nodes_.emplace_back(incarnation_of(i, 0));
      if (i < count_) {
        members_.push_back({i, incarnation_of(i, 0)});
      }
    }
    drop_percent_ = std::array<uint64_t, 4>{0, 5, 15, 30}[rng_.below(4)];
    dup_percent_ = std::array<uint64_t, 3>{0, 5, 15}[rng_.below(3)];
    max_delay_ = rng_.between(1, 10);
    max_sync_delay_ = rng_.between(1, rng_.percent(20) ? 20 : 8);
    max_batch_ = std::array<std::size_t, 3>{1, 2, 8}[rng_.below(3)];
    for (replica_id i = 0; i < total; ++i) {
      nodes_[i].r.emplace(config_of(i), nodes_[i].log);
    }
  }

  sim_result run() {
    plan();
    while (!queue_.empty()) {
      std::pop_heap(queue_.begin(), queue_.end(), later{});
      auto ev = std::move(queue_.back());
      queue_.pop_back();
      now_ = ev.time;
      if (quiet_ && now_ > chaos_end + quiet_limit) {
        break;
      }
      step(ev);
      if (!result_.violations.empty()) {
        return std::move(result_);
      }
      if (quiet_ && settled()) {
        check_final();
        return std::move(result_);
      }
    }
    violation("the quiet period did not settle the logs");
    return std::move(result_);
  }

private:
  static std::string incarnation_of(replica_id i, uint64_t wipes) {
    return "r" + std::to_string(i) + "-" + std::to_string(wipes);
  }

  replica_config config_of(replica_id i) const {
    replica_config cfg;
    cfg.self = i;
    cfg.max_batch = max_batch_;
    // Every fourth seed bounds batches by bytes too (a few entries each);
    // derived from the seed so the random draws stay as they were.
    if (opts_.seed % 4 == 0) {
      cfg.max_batch_bytes = 12;
    }
    // A window of a few batches, so that it fills often.
    cfg.max_in_flight = max_batch_ * (1 + opts_.seed % 3);
#ifdef ANNALS_PLANTED_BUGS
    cfg.bug = opts_.bug;
#endif
    return cfg;
  }

  void schedule(uint64_t time, ev_kind kind, replica_id node,
                message msg = {}) {
    queue_.push_back(
      event{time, seq_++, kind, node, nodes_[node].gen, std::move(msg)});
    std::push_heap(queue_.begin(), queue_.end(), later{});
  }

  void plan() {
    schedule(1, ev_kind::failover, 0);
    for (replica_id i = 0; i < all(); ++i) {
      schedule(rng_.between(1, tick_interval), ev_kind::tick, i);
    }
    // Some seeds are a failover storm: many short epochs, each leaving
    // partial suffixes behind (Raft's figure 8 needs several).
    auto failovers
      = rng_.percent(20) ? rng_.between(4, 10) : rng_.between(1, 3);
    for (uint64_t k = 0; k < failovers; ++k) {
      auto at = rng_.between(10, chaos_end - 1);
      schedule(at, ev_kind::failover, 0);
      if (rng_.percent(35)) { // a new epoch while this one still recovers
        schedule(at + rng_.between(0, 15), ev_kind::failover, 0);
      }
    }
    auto crashes = rng_.between(0, 4);
    for (uint64_t k = 0; k < crashes; ++k) {
      auto at = rng_.between(5, chaos_end - 1);
      auto victim = static_cast<replica_id>(rng_.below(all()));
      schedule(at, ev_kind::crash, victim);
      if (rng_.percent(30)) { // a correlated failure (power, rack)
        schedule(at, ev_kind::crash,
                 (victim + 1 + static_cast<replica_id>(rng_.below(all() - 1)))
                   % all());
      }
    }
    for (int k = 0; k < 2; ++k) {
      if (rng_.percent(opts_.wipe_percent)) {
        schedule(rng_.between(5, chaos_end - 1), ev_kind::wipe,
                 static_cast<replica_id>(rng_.below(all())));
      }
    }
    for (uint64_t k = 0; k < moves_; ++k) {
      schedule(rng_.between(5, chaos_end - 1), ev_kind::move, 0);
    }
    auto commands = rng_.between(5, 20);
    for (uint64_t k = 0; k < commands; ++k) {
      schedule(rng_.between(2, chaos_end - 1), ev_kind::client, 0);
    }
    schedule(chaos_end, ev_kind::quiet, 0);
  }

  void trace(const std::string& line) {
    if (opts_.trace) {
      result_.trace.push_back("t=" + std::to_string(now_) + " " + line);
    }
  }

  void violation(std::string what) {
    result_.violations.push_back("seed " + std::to_string(opts_.seed)
                                 + " t=" + std::to_string(now_) + ": "
                                 + std::move(what));
  }

  void send(replica_id from, envelope env) {
    ++result_.messages;
    if (!quiet_ && rng_.percent(drop_percent_)) {
      trace("drop " + std::string{name_of(env.msg)} + " " + std::to_string(from)
            + "->" + std::to_string(env.to));
      return;
    }
    auto copies = !quiet_ && rng_.percent(dup_percent_) ? 2 : 1;
    for (int c = 0; c < copies; ++c) {
      queue_.push_back(event{now_ + rng_.between(1, max_delay_), seq_++,
                             ev_kind::deliver, env.to, 0, env.msg});
      std::push_heap(queue_.begin(), queue_.end(), later{});
    }
  }

  void step(const event& ev) {
    auto& n = nodes_[ev.node];
    effects out;
    switch (ev.kind) {
    case ev_kind::deliver:
      if (!n.up) {
        return;
      }
      trace("deliver " + std::string{name_of(ev.msg)} + " to "
            + std::to_string(ev.node));
      n.r->receive(ev.msg, out);
      break;
    case ev_kind::synced:
      if (!n.up || ev.gen != n.gen) {
        return;
      }
      n.sync_pending = false;
      (void)n.log.sync();
      trace("synced " + std::to_string(ev.node) + " at "
            + std::to_string(n.log.end()));
      n.r->on_synced(out);
      break;
    case ev_kind::tick:
      if (!n.up || ev.gen != n.gen) {
        return;
      }
      schedule(now_ + tick_interval, ev_kind::tick, ev.node);
      n.r->tick(out);
      break;
    case ev_kind::crash:
    case ev_kind::wipe:
      if (!n.up) {
        return;
      }
      crash(ev.node, ev.kind == ev_kind::wipe);
      schedule(now_ + rng_.between(5, 40), ev_kind::restart, ev.node);
      return;
    case ev_kind::restart:
      restart(ev.node);
      return;
    case ev_kind::failover:
      failover();
      return;
    case ev_kind::appoint:
      appoint(ev.node);
      return;
    case ev_kind::move:
      start_move();
      return;
    case ev_kind::client:
      client();
      return;
    case ev_kind::quiet:
      quiet_ = true;
      for (replica_id i = 0; i < all(); ++i) {
        restart(i);
      }
      schedule(now_ + 1, ev_kind::failover, 0);
      return;
    }
    after(ev.node, out);
  }

  void crash(replica_id i, bool wipe) {
    auto& n = nodes_[i];
    trace(std::string{wipe ? "wipe " : "crash "} + std::to_string(i)
          + " (durable " + std::to_string(n.log.durable_end()) + " of "
          + std::to_string(n.log.end()) + ")");
    n.log.crash();
    if (wipe) {
      // One disk loss at a time: the replica set tolerates one until the
      // wiped replica has caught up and replaced its old incarnation.
      if (wiped_) {
        wipe = false;
      } else {
        wiped_ = true;
        ++result_.wipes;
        n.log.wipe(incarnation_of(i, ++wipes_[i]));
      }
    }
    n.r.reset();
    n.up = false;
    ++n.gen;
    n.sync_pending = false;
    n.checked = 0;
    n.replies.clear();
  }

  void restart(replica_id i) {
    auto& n = nodes_[i];
    if (n.up) {
      return;
    }
    trace("restart " + std::to_string(i));
    n.r.emplace(config_of(i), n.log);
    n.up = true;
    ++n.gen;
    schedule(now_ + 1, ev_kind::tick, i);
  }

  void failover() {
    // The controller appoints a voter (never a learner); a down one simply
    // stalls the partition until the next appointment.
    std::vector<replica_id> voters;
    for (const auto& m : members_) {
      if (m.incarnation == nodes_[m.id].log.incarnation()
          && (!quiet_ || nodes_[m.id].up)) {
        voters.push_back(m.id);
      }
    }
    if (voters.empty()) {
      return; // every voter is wiped or away: wait for the next one
    }
    appoint(voters[rng_.below(voters.size())]);
  }

  /// The controller appoints `who` at the next epoch (a failover, or a
  /// change of voters) over the current voters and learners.
  void appoint(replica_id who) {
    change_pending_ = false;
    auto epoch = ++last_epoch_;
    result_.epochs = epoch;
    for (const auto& n : nodes_) {
      if (n.up
          && (n.r->current_phase() == phase::fencing
              || n.r->current_phase() == phase::recovering)) {
        ++result_.superseded_failovers; // a double failover
      }
    }
    last_appointee_ = who;
    auto& n = nodes_[last_appointee_];
    trace("appoint " + std::to_string(last_appointee_) + " at epoch "
          + std::to_string(epoch));
    if (!n.up) {
      return;
    }
    effects out;
    if (auto err = n.r->appoint(epoch, members_, learners(), out)) {
      trace("appointment refused");
    }
    after(last_appointee_, out);
  }

  bool is_member(replica_id i) const {
    return std::any_of(members_.begin(), members_.end(),
                       [i](const member& m) { return m.id == i; });
  }

  /// The learners on other nodes, with the incarnation each registered.
  membership learners() const {
    membership out;
    for (auto id : learners_) {
      out.push_back({id, nodes_[id].log.incarnation()});
    }
    return out;
  }

  /// A move starts: the spare node becomes a learner, a voter is chosen to
  /// leave once the spare is a voter and the change settled.
  void start_move() {
    if (leaving_ || !learners_.empty()) {
      return; // one move at a time
    }
    for (replica_id i = 0; i < all(); ++i) {
      if (!is_member(i)) {
        learners_.push_back(i);
      }
    }
    if (learners_.empty()) {
      return;
    }
    leaving_ = members_[rng_.below(members_.size())].id;
    ++result_.moves;
    trace("move: learner " + std::to_string(learners_.front())
          + ", voter leaving " + std::to_string(*leaving_));
    tell_leader_learners();
  }

  void tell_leader_learners() {
    auto& n = nodes_[last_appointee_];
    if (n.up) {
      effects out;
      n.r->set_learners(learners(), out);
      after(last_appointee_, out);
    }
  }

  /// The controller's side of a move, on the leader's reports: a caught-up
  /// learner becomes a voter (next epoch), then, once the leader reports
  /// the new voters settled, the leaving voter goes (next epoch). One voter
  /// changes at a time, only while settled (Raft's single-server changes).
  void advance_move(replica& r, replica_id leader) {
    if (r.settled() && !voters_settled_) {
      trace("voters settled at epoch " + std::to_string(r.epoch()));
      voters_settled_ = true;
    }
    auto may_change
      = voters_settled_ || opts_.bug == planted_bug::unsettled_voter_change;
    if (!may_change) {
      return;
    }
    for (const auto& l : r.caught_up_learners()) {
      auto it = std::find(learners_.begin(), learners_.end(), l.id);
      if (it == learners_.end()
          || l.incarnation != nodes_[l.id].log.incarnation()) {
        continue;
      }
      learners_.erase(it);
      voters_settled_ = false;
      if (opts_.bug == planted_bug::swap_voter && leaving_) {
        // One step: the learner takes the leaving voter's place.
        std::erase_if(members_,
                      [this](const member& m) { return m.id == *leaving_; });
        trace("swap " + std::to_string(*leaving_) + " for "
              + std::to_string(l.id));
        leaving_.reset();
      }
      members_.push_back({l.id, l.incarnation});
      trace("promote learner " + std::to_string(l.id));
      change_pending_ = true;
      schedule(now_ + 1, ev_kind::appoint, is_member(leader) ? leader : l.id);
      return;
    }
    if (leaving_ && learners_.empty()) {
      auto out = *leaving_;
      leaving_.reset();
      std::erase_if(members_, [out](const member& m) { return m.id == out; });
      voters_settled_ = false;
      ++result_.moves_completed;
      trace("remove voter " + std::to_string(out));
      auto next = leader;
      if (out == leader) {
        // The first voter that is not a wiped replica's old incarnation,
        // up if one is (as the planner's first live voter).
        std::optional<replica_id> pick;
        for (const auto& m : members_) {
          if (m.incarnation == nodes_[m.id].log.incarnation()
              && (!pick || (!nodes_[*pick].up && nodes_[m.id].up))) {
            pick = m.id;
          }
        }
        if (!pick) {
          return; // no voter can lead now: a later failover appoints one
        }
        next = *pick;
      }
      change_pending_ = true;
      schedule(now_ + 1, ev_kind::appoint, next);
    }
  }

  void client() {
    std::vector<replica_id> leaders;
    for (replica_id i = 0; i < all(); ++i) {
      if (nodes_[i].up && nodes_[i].r->current_phase() == phase::leader) {
        leaders.push_back(i);
      }
    }
    auto target = leaders.empty() ? static_cast<replica_id>(rng_.below(all()))
                                  : leaders[rng_.below(leaders.size())];
    auto& n = nodes_[target];
    if (!n.up) {
      return;
    }
    // A command's events: one append of 1 to 3 entries.
    auto command = "c" + std::to_string(next_command_++);
    std::vector<std::string> payloads;
    auto size = rng_.between(1, 3);
    for (uint64_t k = 0; k < size; ++k) {
      payloads.push_back(command + "." + std::to_string(k));
    }
    effects out;
    auto pos = n.r->propose(payloads, out);
    if (pos) {
      trace("propose " + command + " (" + std::to_string(size) + ") at "
            + std::to_string(target) + " pos " + std::to_string(*pos));
      for (uint64_t k = 0; k < size; ++k) {
        n.replies.push_back(
          {n.r->epoch(), *pos - size + 1 + k, payloads[k], k + 1 == size});
      }
    }
    after(target, out);
  }

  void after(replica_id i, effects& out) {
    auto& n = nodes_[i];
    for (auto& env : out.messages) {
      send(i, std::move(env));
    }
    if (out.sync_needed && !n.sync_pending) {
      n.sync_pending = true;
      schedule(now_ + rng_.between(1, max_sync_delay_), ev_kind::synced, i);
    }
    if (out.leadership_lost) {
      n.replies.clear(); // outcome unknown
    }
    auto& r = *n.r;
    if (r.current_phase() == phase::leader) {
      auto [it, fresh] = leader_of_.emplace(r.epoch(), i);
      if (!fresh && it->second != i) {
        violation("two leaders serve epoch " + std::to_string(r.epoch()));
      }
      auto hw = r.high_watermark();
      auto released = std::remove_if(
        n.replies.begin(), n.replies.end(), [&](const pending_reply& x) {
          if (x.epoch != r.epoch() || x.pos > hw) {
            return false;
          }
          trace("ack " + x.payload + " at " + std::to_string(x.pos));
          acked_.push_back({x.pos, {x.epoch, x.payload, x.ends_append}});
          return true;
        });
      n.replies.erase(released, n.replies.end());
      if (r.epoch() == last_epoch_ && !change_pending_) {
        promote_learners(r);
        advance_move(r, i);
      }
    }
    check_hw(i);
  }

  /// The controller lets a caught-up learner replace its old incarnation
  /// (one map change), then tells the leader.
  void promote_learners(replica& r) {
    for (const auto& learner : r.caught_up_learners()) {
      if (!is_member(learner.id)) {
        continue; // a move's learner: `advance_move`
      }
      for (auto& m : members_) {
        if (m.id == learner.id && m.incarnation != learner.incarnation) {
          trace("promote " + learner.incarnation);
          m.incarnation = learner.incarnation;
          wiped_ = false;
          ++result_.promotions;
        }
      }
      effects none;
      if (auto err = r.reconfigure(last_epoch_, members_, none)) {
        violation("the leader refused a valid reconfiguration");
      }
    }
  }

  /// Everything at or below a replica's high watermark is committed: it
  /// must equal what every other replica had there.
  void check_hw(replica_id i) {
    auto& n = nodes_[i];
    // Logs hold whole appends only, durable or not.
    for (auto end : {n.log.end(), n.log.durable_end()}) {
      if (end != 0 && !n.log.at(end).ends_append) {
        violation("replica " + std::to_string(i) + " ends inside an append at "
                  + std::to_string(end));
        return;
      }
    }
    if (n.log.end() < n.checked) {
      violation("replica " + std::to_string(i) + " truncated to "
                + std::to_string(n.log.end()) + " below its high watermark "
                + std::to_string(n.checked));
      return;
    }
    auto hw = n.r->high_watermark();
    if (hw > n.log.end()) {
      violation("replica " + std::to_string(i) + " has high watermark "
                + std::to_string(hw) + " beyond its end "
                + std::to_string(n.log.end()));
      return;
    }
    auto from = n.checked == 0 ? 1 : n.checked; // recheck the last one
    for (auto pos = from; pos <= hw; ++pos) {
      const auto& entry = n.log.at(pos);
      if (committed_.size() < pos) {
        committed_.push_back(entry);
      } else if (committed_[pos - 1] != entry) {
        violation("replica " + std::to_string(i) + " holds (epoch "
                  + std::to_string(entry.epoch) + ", '" + entry.payload
                  + "') at committed position " + std::to_string(pos)
                  + ", committed was (epoch "
                  + std::to_string(committed_[pos - 1].epoch) + ", '"
                  + committed_[pos - 1].payload + "')");
        return;
      }
    }
    n.checked = std::max(n.checked, hw);
  }

  bool settled() const {
    const auto& l = nodes_[last_appointee_];
    if (!l.up || l.r->current_phase() != phase::leader
        || l.r->epoch() != last_epoch_) {
      return false;
    }
    auto end = l.log.end();
    if (l.r->high_watermark() != end) {
      return false;
    }
    auto same = [&l, end](const sim_node& n) {
      if (!n.up || n.log.end() != end || n.log.durable_end() != end) {
        return false;
      }
      for (position pos = 1; pos <= end; ++pos) {
        if (n.log.at(pos) != l.log.at(pos)) {
          return false;
        }
      }
      return true;
    };
    for (replica_id i = 0; i < all(); ++i) {
      if (holds(i) && !same(nodes_[i])) {
        return false;
      }
    }
    return true;
  }

  /// Whether node `i` is a replica of the partition (voter or learner),
  /// not a spare or a voter moved away.
  bool holds(replica_id i) const {
    return is_member(i)
           || std::find(learners_.begin(), learners_.end(), i)
                != learners_.end();
  }

  replica_id all() const {
    return static_cast<replica_id>(nodes_.size());
  }

  void check_final() {
    const auto& l = nodes_[last_appointee_];
    result_.final_hw = l.r->high_watermark();
    result_.acknowledged = acked_.size();
    for (replica_id i = 0; i < all(); ++i) {
      if (!holds(i)) {
        continue;
      }
      for (position pos = 1; pos <= l.log.end(); ++pos) {
        if (nodes_[i].log.at(pos) != l.log.at(pos)) {
          violation("after settling, replica " + std::to_string(i)
                    + " differs from the leader at " + std::to_string(pos));
          return;
        }
      }
    }
    for (const auto& a : acked_) {
      if (a.pos > l.log.end() || l.log.at(a.pos) != a.entry) {
        violation("acknowledged '" + a.entry.payload + "' (epoch "
                  + std::to_string(a.entry.epoch) + ") is not at position "
                  + std::to_string(a.pos) + " any more");
        return;
      }
    }
  }

  sim_options opts_;
  sim_rng rng_;
  uint32_t count_ = 3;
  sim_result result_;
  std::vector<sim_node> nodes_;
  membership members_;
  /// A move: learners on other nodes, the voter that leaves after, and
  /// whether the voters settled since they last changed.
  std::vector<replica_id> learners_;
  std::optional<replica_id> leaving_;
  bool voters_settled_ = true;
  /// The voters changed; the appointment that carries them is on its way.
  bool change_pending_ = false;
  uint64_t moves_ = 0;
  std::vector<event> queue_;
  uint64_t seq_ = 0;
  uint64_t now_ = 0;
  bool quiet_ = false;
  bool wiped_ = false;
  std::vector<uint64_t> wipes_;
  uint64_t drop_percent_ = 0;
  uint64_t dup_percent_ = 0;
  uint64_t max_delay_ = 1;
  uint64_t max_sync_delay_ = 1;
  std::size_t max_batch_ = 8;
  uint64_t last_epoch_ = 0;
  replica_id last_appointee_ = 0;
  uint64_t next_command_ = 1;
  std::map<uint64_t, replica_id> leader_of_;
  std::vector<log_entry> committed_;
  std::vector<acked_entry> acked_;
};

} // namespace

sim_result simulate(const sim_options& opts) {
  return simulation{opts}.run();
}

} // namespace annals::testing
