// annals -- tests: the replica state machine driven step by step.
#include "replication/replica.hpp"

#include "annals/persistence/errc.hpp"

#include <catch2/catch.hpp>

#include <deque>
#include <optional>

using namespace annals;
using namespace annals::replication;

namespace {

/// Three replicas on a perfect network: messages in FIFO order, syncs at
/// once, unless a replica is cut off; and a fourth, 3, that no membership
/// lists (a node a move brings in).
struct trio {
  trio() {
    for (replica_id i = 0; i < 4; ++i) {
      logs.emplace_back("inc" + std::to_string(i));
      if (i < 3) {
        members.push_back({i, "inc" + std::to_string(i)});
      }
    }
    for (replica_id i = 0; i < 4; ++i) {
      replica_config cfg;
      cfg.self = i;
      replicas[i].emplace(cfg, logs[i]);
    }
  }

  /// Replaces replicas 0-2 by ones configured as `base` (their own ids).
  void configure(replica_config base) {
    for (replica_id i = 0; i < 3; ++i) {
      base.self = i;
      replicas[i].emplace(base, logs[i]);
    }
  }

  void handle(replica_id i, effects& out) {
    for (auto& env : out.messages) {
      if (!cut[i] && !cut[env.to]) {
        queue.push_back(std::move(env));
      }
    }
    if (out.sync_needed && sync_at_once && !unsynced[i]) {
      (void)logs[i].sync();
      effects again;
      replicas[i]->on_synced(again);
      handle(i, again);
    }
  }

  void run() {
    while (!queue.empty()) {
      auto env = std::move(queue.front());
      queue.pop_front();
      if (cut[env.to]) {
        continue;
      }
      if (auto* pulled = std::get_if<pull_reply>(&env.msg)) {
        pull_sizes.push_back(pulled->entries.size());
      }
      effects out;
      replicas[env.to]->receive(env.msg, out);
      handle(env.to, out);
    }
  }

  caf::error appoint(replica_id i, uint64_t epoch) {
    effects out;
    auto err = replicas[i]->appoint(epoch, members, out);
    handle(i, out);
    run();
    return err;
  }

  position propose(replica_id i, std::string payload) {
    effects out;
    auto pos = replicas[i]->propose({std::move(payload)}, out);
    REQUIRE(pos);
    handle(i, out);
    run();
    return *pos;
  }

  void tick(replica_id i) {
    effects out;
    replicas[i]->tick(out);
    handle(i, out);
    run();
  }

  std::deque<memory_replica_log> logs;
  membership members;
  std::optional<replica> replicas[4];
  bool cut[4] = {false, false, false, false};
  bool sync_at_once = true;
  /// Replicas whose writes never become durable (they never acknowledge).
  bool unsynced[4] = {false, false, false, false};
  std::deque<envelope> queue;
  /// The entries in each `pull_reply` delivered.
  std::vector<std::size_t> pull_sizes;
};

} // namespace

TEST_CASE("an appointed leader fences a majority, marks its epoch and serves",
          "[replication][replica]") {
  trio t;
  REQUIRE_FALSE(t.appoint(0, 1));
  CHECK(t.replicas[0]->current_phase() == phase::leader);
  CHECK(t.replicas[0]->epoch_start() == 1);
  for (replica_id i = 0; i < 3; ++i) {
    auto& log = t.logs[i];
    CHECK(log.fence() == 1);
    CHECK(log.entries_lineage() == lineage{{1, 1}});
  }
  auto pos = t.propose(0, "a");
  CHECK(pos == 2);
  CHECK(t.replicas[0]->high_watermark() == 2);
  CHECK(t.logs[1].at(2) == log_entry{1, "a"});
  CHECK(t.logs[2].at(2) == log_entry{1, "a"});
  // Followers learn the high watermark with the next message.
  t.tick(0);
  CHECK(t.replicas[1]->high_watermark() == 2);
}

TEST_CASE("proposals and stale appointments are refused with their errors",
          "[replication][replica]") {
  trio t;
  effects out;
  auto pos = t.replicas[1]->propose({"x"}, out);
  REQUIRE_FALSE(pos);
  CHECK(is(pos.error(), replication_errc::not_leader));
  REQUIRE_FALSE(t.appoint(0, 2));
  auto again = t.appoint(1, 2);
  CHECK(is(again, replication_errc::stale_epoch));
  t.members[2].incarnation = "other";
  auto learner = t.appoint(2, 3);
  CHECK(is(learner, replication_errc::not_a_voter));
  CHECK(t.replicas[2]->current_phase() == phase::follower);
}

TEST_CASE("nothing commits without a majority, and a fenced old leader "
          "acknowledges nothing more",
          "[replication][replica]") {
  trio t;
  REQUIRE_FALSE(t.appoint(0, 1));
  t.propose(0, "a"); // committed at 2
  t.cut[1] = t.cut[2] = true;
  auto lost = t.propose(0, "b"); // only on the leader
  CHECK(lost == 3);
  CHECK(t.replicas[0]->high_watermark() == 2);
  // Replica 1 is appointed; 0 stays cut off.
  t.cut[1] = t.cut[2] = false;
  t.cut[0] = true;
  REQUIRE_FALSE(t.appoint(1, 2));
  CHECK(t.replicas[1]->current_phase() == phase::leader);
  CHECK(t.replicas[1]->epoch_start() == 3);
  t.propose(1, "c");
  CHECK(t.replicas[1]->high_watermark() == 4);
  // The old leader comes back: its epoch is refused, it steps down and
  // its unreplicated suffix ("b") is cut where the lineages diverge.
  t.cut[0] = false;
  t.tick(0);
  CHECK(t.replicas[0]->current_phase() == phase::follower);
  CHECK(t.replicas[0]->high_watermark() == 2);
  t.tick(1);
  CHECK(t.logs[0].end() == 4);
  CHECK(t.logs[0].at(3) == log_entry{2, ""});
  CHECK(t.logs[0].at(4) == log_entry{2, "c"});
  CHECK(t.logs[0].entries_lineage() == lineage{{1, 1}, {2, 3}});
}

TEST_CASE("a new leader pulls the most up-to-date log from its fence majority",
          "[replication][replica]") {
  trio t;
  REQUIRE_FALSE(t.appoint(0, 1));
  t.cut[2] = true;
  t.propose(0, "a");
  t.propose(0, "b");
  CHECK(t.replicas[0]->high_watermark() == 3);
  // 2 never saw a or b; it is appointed with 1's vote and must pull them.
  t.cut[2] = false;
  t.cut[0] = true;
  REQUIRE_FALSE(t.appoint(2, 2));
  CHECK(t.replicas[2]->current_phase() == phase::leader);
  CHECK(t.logs[2].end() == 4);
  CHECK(t.logs[2].at(2) == log_entry{1, "a"});
  CHECK(t.logs[2].at(3) == log_entry{1, "b"});
  CHECK(t.replicas[2]->epoch_start() == 4);
}

TEST_CASE("a new leader pulls what it lacks in chunks of whole appends",
          "[replication][replica]") {
  trio t;
  replica_config cfg;
  cfg.max_batch = 2;
  cfg.max_batch_bytes = 4;
  t.configure(cfg);
  REQUIRE_FALSE(t.appoint(0, 1));
  t.cut[2] = true;
  for (int i = 0; i < 6; ++i) {
    t.propose(0, "e" + std::to_string(i)); // 2..7
  }
  effects out;
  REQUIRE(t.replicas[0]->propose({"x", "y", "z"}, out)); // 8..10
  t.handle(0, out);
  t.run();
  t.propose(0, "big-payload"); // 11: past the byte bound alone
  REQUIRE(t.replicas[0]->high_watermark() == 11);
  t.cut[2] = false;
  t.cut[0] = true;
  REQUIRE_FALSE(t.appoint(2, 2));
  CHECK(t.replicas[2]->current_phase() == phase::leader);
  // Chunks: 2 entries (or 2 payloads of 2 bytes) each, the three-event
  // append whole, the big payload alone.
  CHECK(t.pull_sizes == std::vector<std::size_t>{2, 2, 2, 3, 1});
  REQUIRE(t.logs[2].end() == 12);
  for (position p = 2; p <= 11; ++p) {
    CHECK(t.logs[2].at(p) == t.logs[1].at(p));
  }
  CHECK(t.logs[2].at(12) == log_entry{2, ""});
  CHECK(t.replicas[2]->epoch_start() == 12);
}

TEST_CASE("a chunk that does not continue the pull is ignored",
          "[replication][replica]") {
  trio t;
  replica_config cfg;
  cfg.max_batch = 1;
  t.configure(cfg);
  REQUIRE_FALSE(t.appoint(0, 1));
  t.cut[2] = true;
  t.propose(0, "a");
  t.propose(0, "b");
  t.propose(0, "c");
  t.cut[2] = false;
  t.cut[0] = true;
  effects appointed;
  REQUIRE_FALSE(t.replicas[2]->appoint(2, t.members, appointed));
  t.handle(2, appointed);
  // Deliver one message at a time up to the first chunk, twice.
  std::optional<pull_reply> first;
  while (!first && !t.queue.empty()) {
    auto env = std::move(t.queue.front());
    t.queue.pop_front();
    if (t.cut[env.to]) {
      continue;
    }
    if (auto* pulled = std::get_if<pull_reply>(&env.msg)) {
      first = *pulled;
    }
    effects out;
    t.replicas[env.to]->receive(env.msg, out);
    t.handle(env.to, out);
  }
  REQUIRE(first);
  CHECK(first->first == 2);
  CHECK(t.replicas[2]->current_phase() == phase::recovering);
  CHECK(t.logs[2].end() == 2);
  effects again;
  t.replicas[2]->receive(*first, again);
  CHECK(again.messages.empty());
  CHECK(t.logs[2].end() == 2);
  // A chunk that skips ahead is ignored as well.
  t.replicas[2]->receive(pull_reply{2, 1, "inc1", 2, 4, {log_entry{1, "c"}}},
                         again);
  CHECK(t.logs[2].end() == 2);
  t.run();
  REQUIRE(t.replicas[2]->current_phase() == phase::leader);
  CHECK(t.logs[2].end() == 5);
  CHECK(t.logs[2].at(3) == log_entry{1, "b"});
  CHECK(t.logs[2].at(4) == log_entry{1, "c"});
}

TEST_CASE("a follower that acknowledges nothing gets at most a window",
          "[replication][replica]") {
  trio t;
  replica_config cfg;
  cfg.max_batch = 1;
  cfg.max_in_flight = 4;
  t.configure(cfg);
  t.unsynced[2] = true;
  REQUIRE_FALSE(t.appoint(0, 1));
  for (int i = 0; i < 10; ++i) {
    t.propose(0, "e" + std::to_string(i)); // 2..11
  }
  CHECK(t.replicas[0]->high_watermark() == 11);
  CHECK(t.logs[1].end() == 11);
  CHECK(t.logs[2].end() == 4); // the marker and 3 events: the window
  t.tick(0);                   // a heartbeat, nothing new
  CHECK(t.logs[2].end() == 4);
  // Once it syncs and acknowledges, it gets the rest, a window at a time.
  t.unsynced[2] = false;
  (void)t.logs[2].sync();
  effects synced;
  t.replicas[2]->on_synced(synced);
  t.handle(2, synced);
  t.run();
  CHECK(t.logs[2].end() == 11);
  CHECK(t.logs[2].durable_end() == 11);
}

TEST_CASE("a follower acknowledges only what it has synced",
          "[replication][replica]") {
  trio t;
  REQUIRE_FALSE(t.appoint(0, 1));
  t.sync_at_once = false;
  effects out;
  REQUIRE(t.replicas[0]->propose({"a"}, out));
  t.handle(0, out);
  (void)t.logs[0].sync();
  effects shipped;
  t.replicas[0]->on_synced(shipped);
  t.handle(0, shipped);
  t.run();
  CHECK(t.logs[1].end() == 2);
  CHECK(t.logs[1].durable_end() == 1);
  CHECK(t.replicas[0]->high_watermark() == 1);
  // A crash now loses the entry; it was never acknowledged.
  t.logs[1].crash();
  CHECK(t.logs[1].end() == 1);
  CHECK(t.logs[2].end() == 2);
  (void)t.logs[2].sync();
  effects acked;
  t.replicas[2]->on_synced(acked);
  t.handle(2, acked);
  t.run();
  CHECK(t.replicas[0]->high_watermark() == 2);
}

TEST_CASE("the in-memory log refuses a stale writer and a wrong end",
          "[replication][replica]") {
  memory_replica_log log{"x"};
  REQUIRE_FALSE(log.raise_fence(3));
  auto stale = log.append(0, 2, {log_entry{2, "a"}});
  CHECK(is(stale, journal_errc::stale_epoch));
  auto wrong = log.append(1, 3, {log_entry{3, "a"}});
  CHECK(is(wrong, journal_errc::wrong_expected_position));
  REQUIRE_FALSE(log.append(0, 3, {log_entry{3, "a"}, log_entry{3, "b"}}));
  CHECK(log.durable_end() == 0);
  log.crash();
  CHECK(log.end() == 0);
  CHECK(log.entries_lineage().empty());
  CHECK(log.fence() == 3);
  log.wipe("y");
  CHECK(log.fence() == 0);
  CHECK(log.incarnation() == "y");
  auto partial = log.append(0, 0, {log_entry{1, "a", false}});
  CHECK(is(partial, journal_errc::invalid_argument));
  auto none = log.append(0, 0, {});
  CHECK(is(none, journal_errc::invalid_argument));
  CHECK(log.end() == 0);
}

TEST_CASE("a batch never splits an append, whatever its size limit",
          "[replication][replica]") {
  trio t;
  replica_config cfg;
  cfg.max_batch = 1;
  t.configure(cfg);
  REQUIRE_FALSE(t.appoint(0, 1));
  std::vector<std::string> events{"a", "b", "c"};
  effects out;
  auto pos = t.replicas[0]->propose(events, out);
  REQUIRE(pos);
  CHECK(*pos == 4);
  t.handle(0, out);
  t.run();
  CHECK(t.replicas[0]->high_watermark() == 4);
  for (replica_id i = 0; i < 3; ++i) {
    auto& log = t.logs[i];
    REQUIRE(log.end() == 4);
    CHECK(log.at(2) == log_entry{1, "a", false});
    CHECK(log.at(3) == log_entry{1, "b", false});
    CHECK(log.at(4) == log_entry{1, "c", true});
  }
  effects empty;
  auto nothing = t.replicas[0]->propose({}, empty);
  REQUIRE_FALSE(nothing);
  CHECK(is(nothing.error(), journal_errc::invalid_argument));
  CHECK(t.replicas[0]->current_phase() == phase::leader);
}

namespace {

/// A memory log whose next operations of a kind fail with `io_error`.
class failing_log : public memory_replica_log {
public:
  using memory_replica_log::memory_replica_log;

  caf::error raise_fence(uint64_t epoch) override {
    if (fail_fence) {
      return make_error(journal_errc::io_error);
    }
    return memory_replica_log::raise_fence(epoch);
  }

  caf::error append(position expected_end, uint64_t writer_epoch,
                    const std::vector<log_entry>& entries) override {
    if (fail_append) {
      return make_error(journal_errc::io_error);
    }
    return memory_replica_log::append(expected_end, writer_epoch, entries);
  }

  caf::error truncate(position after) override {
    if (fail_truncate) {
      return make_error(journal_errc::io_error);
    }
    return memory_replica_log::truncate(after);
  }

  bool fail_fence = false;
  bool fail_append = false;
  bool fail_truncate = false;
};

membership solo_members() {
  return {{0, "solo"}};
}

} // namespace

TEST_CASE("a replica set of one serves at once and commits on its own fsync",
          "[replication][replica]") {
  memory_replica_log log{"solo"};
  replica r{replica_config{}, log};
  effects out;
  REQUIRE_FALSE(r.appoint(1, solo_members(), out));
  CHECK(r.current_phase() == phase::leader);
  CHECK(out.messages.empty());
  auto pos = r.propose({"a"}, out);
  REQUIRE(pos);
  CHECK(r.high_watermark() == 0); // not synced yet
  REQUIRE_FALSE(log.sync());
  r.on_synced(out);
  CHECK(r.high_watermark() == *pos);
}

TEST_CASE("a failed fence leaves an appointment unaccepted",
          "[replication][replica]") {
  failing_log log{"solo"};
  replica r{replica_config{}, log};
  log.fail_fence = true;
  effects out;
  auto err = r.appoint(1, solo_members(), out);
  CHECK(is(err, journal_errc::io_error));
  CHECK(r.current_phase() == phase::follower);
  CHECK(r.epoch() == 0);
  // A follower whose fence fails ignores the message that needed it.
  r.receive(fence_request{4, 1}, out);
  CHECK(out.messages.empty());
  CHECK(r.epoch() == 0);
}

TEST_CASE("a leader whose append fails steps down, replies end unknown",
          "[replication][replica]") {
  failing_log log{"solo"};
  replica r{replica_config{}, log};
  effects out;
  REQUIRE_FALSE(r.appoint(1, solo_members(), out));
  log.fail_append = true;
  effects failed;
  auto pos = r.propose({"a"}, failed);
  REQUIRE_FALSE(pos);
  CHECK(is(pos.error(), journal_errc::io_error));
  CHECK(failed.leadership_lost);
  CHECK(r.current_phase() == phase::follower);
  CHECK_FALSE(r.leader().has_value());
  // It never leads this epoch again.
  log.fail_append = false;
  effects again;
  CHECK(is(r.appoint(1, solo_members(), again), replication_errc::stale_epoch));
}

TEST_CASE("a follower whose truncation fails acknowledges nothing",
          "[replication][replica]") {
  failing_log log{"f"};
  replica_config cfg;
  cfg.self = 1;
  replica r{cfg, log};
  effects out;
  r.receive(replicate{1, 0, 0, 0, {log_entry{1, ""}, log_entry{1, "a"}}, 0},
            out);
  REQUIRE_FALSE(log.sync());
  effects synced;
  r.on_synced(synced);
  REQUIRE(synced.messages.size() == 1);
  auto ack = std::get<replicate_reply>(synced.messages[0].msg);
  CHECK(ack.outcome == replicate_outcome::ack);
  CHECK(ack.end == 2);
  // Epoch 2's leader has a different entry at 2: the cut fails.
  log.fail_truncate = true;
  effects cut;
  r.receive(replicate{2, 2, 1, 1, {log_entry{2, ""}}, 0}, cut);
  CHECK(cut.messages.empty());
  CHECK(log.at(2) == log_entry{1, "a"});
  CHECK(log.fence() == 2);
}

TEST_CASE("stale and foreign messages are refused or ignored",
          "[replication][replica]") {
  memory_replica_log log{"f"};
  replica_config cfg;
  cfg.self = 1;
  replica r{cfg, log};
  effects out;
  r.receive(fence_request{5, 0}, out);
  REQUIRE(out.messages.size() == 1);
  auto vote = std::get<fence_reply>(out.messages[0].msg);
  CHECK(vote.fence == 5);
  CHECK(vote.epoch == 5);
  // An older leader is refused, with the fence that deposes it.
  effects old;
  r.receive(replicate{4, 2, 0, 0, {log_entry{4, "x"}}, 0}, old);
  REQUIRE(old.messages.size() == 1);
  auto refusal = std::get<replicate_reply>(old.messages[0].msg);
  CHECK(refusal.outcome == replicate_outcome::refused);
  CHECK(refusal.fence == 5);
  CHECK(log.end() == 0);
  effects old_fence;
  r.receive(fence_request{3, 2}, old_fence);
  REQUIRE(old_fence.messages.size() == 1);
  CHECK(std::get<fence_reply>(old_fence.messages[0].msg).fence == 5);
  // A second leader claiming epoch 5 is not followed.
  effects second;
  r.receive(replicate{5, 2, 0, 0, {log_entry{5, "y"}}, 0}, second);
  CHECK(second.messages.empty());
  CHECK(log.end() == 0);
  // A pull from someone who is not our leader gets no entries.
  effects pull;
  r.receive(pull_request{5, 2, 1, 3}, pull);
  REQUIRE(pull.messages.size() == 1);
  CHECK(std::get<pull_reply>(pull.messages[0].msg).entries.empty());
}

TEST_CASE("a wiped replica is a learner until the controller swaps it in",
          "[replication][replica]") {
  trio t;
  REQUIRE_FALSE(t.appoint(0, 1));
  t.propose(0, "a");
  // Replica 2 loses its disk and comes back with a new incarnation.
  t.logs[2].wipe("inc2-new");
  t.replicas[2].emplace(replica_config{2}, t.logs[2]);
  t.cut[2] = true;
  t.propose(0, "b");
  CHECK(t.replicas[0]->high_watermark() == 3);
  CHECK(t.replicas[0]->caught_up_learners().empty());
  // It catches up while 1 is away, but is not counted: nothing commits.
  t.cut[2] = false;
  t.cut[1] = true;
  t.tick(0);
  t.propose(0, "c");
  CHECK(t.logs[2].end() == 4);
  CHECK(t.replicas[0]->high_watermark() == 3);
  auto learners = t.replicas[0]->caught_up_learners();
  REQUIRE(learners.size() == 1);
  CHECK(learners[0].id == 2);
  CHECK(learners[0].incarnation == "inc2-new");
  t.members[2].incarnation = "inc2-new";
  effects out;
  CHECK(is(t.replicas[0]->reconfigure(7, t.members, out),
           replication_errc::not_leader));
  auto bad = t.members;
  bad.pop_back();
  CHECK(is(t.replicas[0]->reconfigure(1, bad, out),
           replication_errc::invalid_membership));
  auto not_self = t.members;
  not_self[0].incarnation = "elsewhere";
  CHECK(is(t.replicas[0]->reconfigure(1, not_self, out),
           replication_errc::invalid_membership));
  REQUIRE_FALSE(t.replicas[0]->reconfigure(1, t.members, out));
  CHECK(t.replicas[0]->caught_up_learners().empty());
  // Now it counts: with 1 still cut off, 0 and 2 commit.
  CHECK(t.replicas[0]->high_watermark() == 4);
  t.propose(0, "d");
  CHECK(t.replicas[0]->high_watermark() == 5);
}

TEST_CASE("a learner on another node gets the log, is never counted, and "
          "counts once a later epoch lists it as a voter",
          "[replication][replica]") {
  trio t;
  REQUIRE_FALSE(t.appoint(0, 1));
  CHECK(t.replicas[0]->settled());
  t.propose(0, "a");
  effects out;
  t.replicas[0]->set_learners({{3, "inc3"}}, out);
  t.handle(0, out);
  t.run();
  CHECK(t.logs[3].end() == 2);
  auto learners = t.replicas[0]->caught_up_learners();
  REQUIRE(learners.size() == 1);
  CHECK(learners[0].id == 3);
  CHECK(learners[0].incarnation == "inc3");
  // Never counted: with 1 and 2 away, nothing commits.
  t.cut[1] = t.cut[2] = true;
  t.propose(0, "b");
  CHECK(t.logs[3].end() == 3);
  CHECK(t.replicas[0]->high_watermark() == 2);
  // Its id may change with the learners: its progress follows its
  // incarnation.
  effects renumbered;
  t.replicas[0]->set_learners({{7, "inc3"}}, renumbered);
  auto renamed = t.replicas[0]->caught_up_learners();
  REQUIRE(renamed.size() == 1);
  CHECK(renamed[0].id == 7);
  // Epoch 2 lists it as a fourth voter: fenced with the others (3 of 4),
  // counted from then on; not settled until the marker commits.
  t.cut[1] = t.cut[2] = false;
  t.members.push_back({3, "inc3"});
  effects appointed;
  REQUIRE_FALSE(t.replicas[0]->appoint(2, t.members, appointed));
  CHECK_FALSE(t.replicas[0]->settled());
  t.handle(0, appointed);
  t.run();
  CHECK(t.replicas[0]->current_phase() == phase::leader);
  CHECK(t.replicas[0]->settled());
  t.cut[1] = t.cut[2] = true;
  t.propose(0, "c"); // 0 and 3: 2 of 4 is no majority
  CHECK(t.replicas[0]->high_watermark() == t.replicas[0]->epoch_start());
  t.cut[2] = false;
  t.tick(0);
  CHECK(t.replicas[0]->high_watermark() == t.logs[0].end());
  CHECK(t.logs[3].end() == t.logs[0].end());
}

TEST_CASE("a failover superseded while it fences steps down and serves "
          "nothing",
          "[replication][replica]") {
  trio t;
  REQUIRE_FALSE(t.appoint(0, 1));
  t.propose(0, "a");
  // 1 is appointed at epoch 2 but its fence requests are held up...
  t.cut[1] = true;
  REQUIRE_FALSE(t.appoint(1, 2));
  CHECK(t.replicas[1]->current_phase() == phase::fencing);
  // ...while 2 is appointed at epoch 3 and fences 0 and itself.
  REQUIRE_FALSE(t.appoint(2, 3));
  CHECK(t.replicas[2]->current_phase() == phase::leader);
  CHECK(t.replicas[0]->current_phase() == phase::follower);
  CHECK(t.logs[0].fence() == 3);
  // 1's retransmitted fence requests are refused: it stands down.
  t.cut[1] = false;
  t.tick(1);
  CHECK(t.replicas[1]->current_phase() == phase::follower);
  CHECK(t.replicas[1]->epoch() == 3);
  t.propose(2, "b");
  CHECK(t.replicas[2]->high_watermark() == 4);
  t.tick(2);
  for (replica_id i = 0; i < 3; ++i) {
    auto& log = t.logs[i];
    CHECK(log.end() == 4);
    CHECK(log.entries_lineage() == lineage{{1, 1}, {3, 3}});
  }
}
