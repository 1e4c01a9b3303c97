// annals -- tests: one replication_host per node over real LMDB journals,
// several partitions with different leaders, frames as bytes.
#include "replication/replication_host.hpp"

#include "annals/persistence/errc.hpp"

#include "journal_backends.hpp"
#include "replication/wire.hpp"

#include <catch2/catch.hpp>

#include <deque>
#include <memory>

using namespace annals;
using namespace annals::replication;
using annals::testing::lmdb_backend;

namespace {

constexpr uint32_t partitions = 4;

/// A stream of partition `p` (the first "acc-k" that hashes there).
stream_id stream_in(partition_id p, int skip = 0) {
  for (int k = 0;; ++k) {
    stream_id s{"bank.account", "acc-" + std::to_string(k)};
    if (partition_of(s, partitions) == p && skip-- == 0)
      return s;
  }
}

append_request command(stream_id s, std::string body, std::string id,
                       uint64_t epoch) {
  append_request r;
  r.stream = std::move(s);
  r.command_id = std::move(id);
  r.epoch = epoch;
  event_data e;
  e.type = "t";
  e.payload = to_bytes(body);
  r.events.push_back(e);
  r.events.push_back(std::move(e));
  return r;
}

/// Three nodes, each replicating every partition; frames travel in FIFO
/// order unless a node is cut off. With `group_commit`, a node flushes its
/// staged writes once no frame is left to deliver (as its actor does once
/// its mailbox is drained), unless `auto_flush` is off.
struct three_nodes {
  explicit three_nodes(bool group_commit = false) {
    auto opts = lmdb_backend::default_options();
    opts.partitions = partitions;
    for (replica_id i = 0; i < 3; ++i) {
      journals.emplace_back(std::make_unique<lmdb_backend>(opts));
      members.push_back({i, (*journals[i])->incarnation()});
    }
    for (replica_id i = 0; i < 3; ++i) {
      hosts.emplace_back(
        std::make_unique<replication_host>(**journals[i], group_commit));
      for (partition_id p = 0; p < partitions; ++p)
        REQUIRE_FALSE(hosts[i]->assign(p, i));
    }
  }

  void handle(replica_id from, host_output& out) {
    for (auto& f : out.frames)
      if (!cut[from] && !cut[f.to])
        queue.push_back({from, std::move(f)});
    for (auto& c : out.changes)
      changes[from].push_back(c);
    run();
  }

  void run() {
    for (;;) {
      deliver();
      bool flushed = false;
      for (replica_id i = 0; auto_flush && i < 3; ++i)
        if (hosts[i]->pending())
          flushed = flush(i) || flushed;
      if (!flushed)
        return;
    }
  }

  /// Flushes node `i`'s staged writes; true if that queued frames.
  bool flush(replica_id i) {
    host_output out;
    REQUIRE_FALSE(hosts[i]->flush(out));
    for (auto& c : out.changes)
      changes[i].push_back(c);
    bool queued = false;
    for (auto& g : out.frames)
      if (!cut[i] && !cut[g.to]) {
        queue.push_back({i, std::move(g)});
        queued = true;
      }
    return queued;
  }

  void deliver() {
    while (!queue.empty()) {
      auto [from, f] = std::move(queue.front());
      queue.pop_front();
      if (cut[from] || cut[f.to])
        continue;
      host_output out;
      hosts[f.to]->receive(f.partition, f.bytes, out);
      for (auto& g : out.frames)
        if (!cut[f.to] && !cut[g.to])
          queue.push_back({f.to, std::move(g)});
      for (auto& c : out.changes)
        changes[f.to].push_back(c);
    }
  }

  caf::error appoint(replica_id i, partition_id p, uint64_t epoch) {
    host_output out;
    auto err = hosts[i]->appoint(p, epoch, members, {}, out);
    handle(i, out);
    return err;
  }

  caf::expected<append_result> write(replica_id i, append_request req) {
    auto res = (*journals[i])->append(req);
    if (res) {
      host_output out;
      hosts[i]->committed(partition_of(req.stream, partitions),
                          res->last_position, req.epoch, out);
      handle(i, out);
    }
    return res;
  }

  void tick(replica_id i) {
    host_output out;
    hosts[i]->tick(out);
    handle(i, out);
  }

  /// The last change of `what` for `p` reported by node `i`.
  const partition_change* last(replica_id i, partition_id p,
                               partition_change::kind what) {
    const partition_change* found = nullptr;
    for (const auto& c : changes[i])
      if (c.partition == p && c.what == what)
        found = &c;
    return found;
  }

  std::vector<recorded_event> events(replica_id i, partition_id p) {
    auto all = (*journals[i])->read_partition(p, 1);
    REQUIRE(all);
    return std::move(*all);
  }

  std::vector<std::unique_ptr<lmdb_backend>> journals;
  membership members;
  std::vector<std::unique_ptr<replication_host>> hosts;
  bool cut[3] = {false, false, false};
  bool auto_flush = true;
  std::deque<std::pair<replica_id, outgoing_frame>> queue;
  std::vector<partition_change> changes[3];
};

} // namespace

TEST_CASE("each partition's leader replicates to the others and reports its "
          "high watermark",
          "[replication][host]") {
  three_nodes t;
  for (partition_id p = 0; p < partitions; ++p)
    REQUIRE_FALSE(t.appoint(p % 3, p, 1));
  for (partition_id p = 0; p < partitions; ++p) {
    auto leader = p % 3;
    auto* serving = t.last(leader, p, partition_change::kind::serving);
    REQUIRE(serving);
    CHECK(serving->epoch == 1);
    CHECK(serving->pos == 1);
    auto res = t.write(leader, command(stream_in(p), "x", "c1", 1));
    REQUIRE(res);
    auto* committed = t.last(leader, p, partition_change::kind::committed);
    REQUIRE(committed);
    CHECK(committed->pos == res->last_position);
    for (replica_id i = 0; i < 3; ++i)
      CHECK(t.events(i, p) == t.events(leader, p));
  }
}

TEST_CASE("a failover moves a partition's leadership, the old leader learns "
          "it lost and catches up",
          "[replication][host]") {
  three_nodes t;
  REQUIRE_FALSE(t.appoint(0, 2, 1));
  REQUIRE(t.write(0, command(stream_in(2), "a", "c1", 1)));
  t.cut[0] = true;
  REQUIRE(t.write(0, command(stream_in(2), "lost", "c2", 1)));
  REQUIRE_FALSE(t.appoint(1, 2, 2));
  REQUIRE(t.last(1, 2, partition_change::kind::serving));
  auto res = t.write(1, command(stream_in(2, 1), "b", "c3", 2));
  REQUIRE(res);
  CHECK(t.last(1, 2, partition_change::kind::committed)->pos
        == res->last_position);
  t.cut[0] = false;
  t.tick(1);
  auto* lost = t.last(0, 2, partition_change::kind::lost);
  REQUIRE(lost);
  CHECK(lost->epoch == 1);
  CHECK(t.events(0, 2) == t.events(1, 2));
  CHECK(t.events(2, 2) == t.events(1, 2));
  CHECK((*t.journals[0])->find_command(stream_in(2), "c2").value()
        == std::nullopt);
}

TEST_CASE("damaged or foreign frames are dropped and counted",
          "[replication][host]") {
  three_nodes t;
  REQUIRE_FALSE(t.appoint(0, 1, 1));
  auto before = t.events(1, 1);
  host_output out;
  t.hosts[1]->receive(1, "garbage", out);
  t.hosts[1]->receive(1, "", out);
  replicate bogus{7, 0, 0, 0, {log_entry{7, "not an entry", true}}, 0};
  auto bytes = encode_message(bogus);
  t.hosts[1]->receive(1, bytes, out);
  t.hosts[1]->receive(99, bytes, out); // a partition it does not hold
  CHECK(t.hosts[1]->dropped_frames() == 4);
  CHECK(t.events(1, 1) == before);
  // Dropped before the replica saw it: no new epoch, no truncation.
  CHECK(t.hosts[1]->find(1)->epoch() == 1);
}

TEST_CASE("every replication message survives the wire and rejects damage",
          "[replication][wire]") {
  lineage lin{{1, 1}, {3, 9}};
  std::vector<log_entry> entries{{2, "a", false}, {2, std::string(300, 'b')}};
  std::vector<message> all{
    fence_request{5, 2},
    fence_reply{5, 1, "inc", 5, lin, 12},
    pull_request{5, 2, 3, 12},
    pull_reply{5, 1, "inc", 5, 3, entries},
    replicate{5, 2, 11, 3, entries, 10},
    replicate_reply{5, 1, "inc", replicate_outcome::mismatch, 5, 12, lin}};
  for (const auto& msg : all) {
    auto bytes = encode_message(msg);
    auto back = decode_message(bytes);
    REQUIRE(back);
    CHECK(encode_message(*back) == bytes);
    CHECK(back->index() == msg.index());
    for (std::size_t n = 0; n < bytes.size(); ++n) {
      auto cut = decode_message(std::string_view{bytes}.substr(0, n));
      REQUIRE_FALSE(cut);
      CHECK(is(cut.error(), journal_errc::invalid_argument));
    }
    CHECK_FALSE(decode_message(bytes + "x"));
  }
  std::string wrong_version = encode_message(all[0]);
  wrong_version[0] = 2;
  CHECK_FALSE(decode_message(wrong_version));
  std::string wrong_kind = encode_message(all[0]);
  wrong_kind[1] = 9;
  CHECK_FALSE(decode_message(wrong_kind));
  // A list count far beyond the frame is refused before allocating.
  auto huge = encode_message(replicate{5, 2, 11, 3, {}, 10});
  huge[1 + 1 + 8 + 4 + 8 + 8] = '\xff';
  huge[1 + 1 + 8 + 4 + 8 + 8 + 3] = '\x7f';
  CHECK_FALSE(decode_message(huge));
}

TEST_CASE("a batch of frames for one peer survives the wire in order, splits "
          "past its size bound, and rejects damage",
          "[replication][wire]") {
  std::string big(max_frames_batch / 2, 'x');
  std::vector<partition_frame> frames{
    {3, "abc"}, {0, ""}, {7, big}, {7, big}, {2, "z"}};
  std::vector<std::string> batches;
  encode_frames(frames, batches);
  // The second half-megabyte frame does not fit beside the first.
  REQUIRE(batches.size() == 2);
  std::vector<std::pair<partition_id, std::string>> back;
  for (const auto& b : batches) {
    CHECK(b.size() <= max_frames_batch + 64);
    auto got = decode_frames(b);
    REQUIRE(got);
    for (const auto& f : *got)
      back.emplace_back(f.partition, std::string{f.bytes});
  }
  REQUIRE(back.size() == frames.size());
  for (std::size_t i = 0; i < frames.size(); ++i) {
    CHECK(back[i].first == frames[i].partition);
    CHECK(back[i].second == frames[i].bytes);
  }
  // A frame larger than the bound still travels, alone.
  std::string huge(max_frames_batch + 1, 'y');
  batches.clear();
  encode_frames({{1, "a"}, {2, huge}}, batches);
  CHECK(batches.size() == 2);
  // Damage: every cut, a trailing byte, a wrong version, a count past the
  // end (refused before allocating).
  batches.clear();
  encode_frames({{3, "abc"}, {4, "de"}}, batches);
  REQUIRE(batches.size() == 1);
  const auto& b = batches[0];
  for (std::size_t n = 0; n < b.size(); ++n) {
    auto cut = decode_frames(std::string_view{b}.substr(0, n));
    REQUIRE_FALSE(cut);
    CHECK(is(cut.error(), journal_errc::invalid_argument));
  }
  CHECK_FALSE(decode_frames(b + "x"));
  auto wrong_version = b;
  wrong_version[0] = 2;
  CHECK_FALSE(decode_frames(wrong_version));
  auto many = b;
  many[4] = '\x7f';
  CHECK_FALSE(decode_frames(many));
  // No frames at all is a valid (empty) batch.
  batches.clear();
  encode_frames({}, batches);
  CHECK(batches.empty());
}

TEST_CASE("group commit: a follower commits the frames at hand in one journal "
          "transaction and acknowledges them only after it",
          "[replication][host]") {
  three_nodes t{true};
  for (partition_id p = 0; p < partitions; ++p)
    REQUIRE_FALSE(t.appoint(p % 3, p, 1));
  // Partitions 0 and 3 are led by node 0; both get a command at once.
  t.auto_flush = false;
  auto before = t.hosts[1]->group_commits();
  auto end0 = t.events(1, 0).size();
  auto r0 = (*t.journals[0])->append(command(stream_in(0), "x", "c0", 1));
  auto r3 = (*t.journals[0])->append(command(stream_in(3), "y", "c3", 1));
  REQUIRE(r0);
  REQUIRE(r3);
  host_output out;
  t.hosts[0]->committed(0, r0->last_position, 1, out);
  t.hosts[0]->committed(3, r3->last_position, 1, out);
  t.handle(0, out);
  // Received and staged, not yet committed: nothing acknowledged.
  CHECK(t.hosts[1]->pending());
  CHECK(t.events(1, 0).size() == end0);
  auto* c0 = t.last(0, 0, partition_change::kind::committed);
  CHECK((c0 == nullptr || c0->pos < r0->last_position));
  // One flush: one transaction holds both partitions' events, and only now
  // node 1 acknowledges them.
  CHECK(t.flush(1));
  t.auto_flush = true;
  t.run();
  CHECK(t.hosts[1]->group_commits() == before + 1);
  CHECK_FALSE(t.hosts[1]->pending());
  for (partition_id p : {0u, 3u}) {
    CHECK(t.events(1, p) == t.events(0, p));
    CHECK(t.events(2, p) == t.events(0, p));
  }
  c0 = t.last(0, 0, partition_change::kind::committed);
  REQUIRE(c0);
  CHECK(c0->pos == r0->last_position);
  auto* c3 = t.last(0, 3, partition_change::kind::committed);
  REQUIRE(c3);
  CHECK(c3->pos == r3->last_position);
}

TEST_CASE("group commit: every scenario of the plain host holds with it",
          "[replication][host]") {
  three_nodes t{true};
  for (partition_id p = 0; p < partitions; ++p)
    REQUIRE_FALSE(t.appoint(p % 3, p, 1));
  for (int round = 0; round < 3; ++round)
    for (partition_id p = 0; p < partitions; ++p) {
      auto res = t.write(
        p % 3, command(stream_in(p), "x", "c" + std::to_string(round), 1));
      REQUIRE(res);
      auto* committed = t.last(p % 3, p, partition_change::kind::committed);
      REQUIRE(committed);
      CHECK(committed->pos == res->last_position);
    }
  // Node 2 is cut off: node 0 and 1 still make a majority; then a failover
  // of partition 2 (led by node 2) to node 1 at epoch 2.
  t.cut[2] = true;
  REQUIRE_FALSE(t.appoint(1, 2, 2));
  auto res = t.write(1, command(stream_in(2), "z", "c9", 2));
  REQUIRE(res);
  auto* committed = t.last(1, 2, partition_change::kind::committed);
  REQUIRE(committed);
  CHECK(committed->pos == res->last_position);
  t.cut[2] = false;
  for (int k = 0; k < 5; ++k) {
    t.tick(1);
    t.tick(2);
  }
  for (partition_id p = 0; p < partitions; ++p) {
    auto leader = p == 2 ? 1u : p % 3;
    for (replica_id i = 0; i < 3; ++i)
      CHECK(t.events(i, p) == t.events(leader, p));
  }
}

TEST_CASE("group commit: a failover of many partitions fences each follower "
          "and marks each new epoch in one commit per node, and nothing is "
          "said before it",
          "[replication][host]") {
  three_nodes t{true};
  for (partition_id p = 0; p < partitions; ++p)
    REQUIRE_FALSE(t.appoint(0, p, 1));
  for (partition_id p = 0; p < partitions; ++p)
    REQUIRE(t.write(0, command(stream_in(p), "x", "c" + std::to_string(p), 1)));
  // Node 1 takes over every partition at epoch 2; nodes 1 and 2 flush only
  // when told.
  t.auto_flush = false;
  auto commits1 = t.hosts[1]->group_commits();
  auto commits2 = t.hosts[2]->group_commits();
  // As the replicator does: the new leader's own fences in one commit.
  std::vector<std::pair<partition_id, uint64_t>> appointments;
  for (partition_id p = 0; p < partitions; ++p)
    appointments.emplace_back(p, 2);
  REQUIRE_FALSE(t.hosts[1]->raise_fences(appointments));
  for (partition_id p = 0; p < partitions; ++p) {
    host_output out;
    REQUIRE_FALSE(t.hosts[1]->appoint(p, 2, t.members, {}, out));
    t.handle(1, out);
  }
  // Node 2 staged every fence and answered none: the journal still says 1.
  CHECK(t.hosts[2]->pending());
  for (partition_id p = 0; p < partitions; ++p) {
    CHECK((*t.journals[2])->partition_epoch(p).value() == 1);
    CHECK(t.hosts[2]->find(p)->epoch() == 2);
  }
  CHECK(t.flush(2)); // the replies leave with the flush
  CHECK(t.hosts[2]->group_commits() == commits2 + 1);
  for (partition_id p = 0; p < partitions; ++p)
    CHECK((*t.journals[2])->partition_epoch(p).value() == 2);
  t.deliver();
  // Node 1 wrote every marker into its stage and serves none yet.
  for (partition_id p = 0; p < partitions; ++p) {
    CHECK(t.hosts[1]->find(p)->current_phase() == phase::leader);
    CHECK(t.last(1, p, partition_change::kind::serving) == nullptr);
  }
  t.flush(1);
  CHECK(t.hosts[1]->group_commits() == commits1 + 1);
  for (partition_id p = 0; p < partitions; ++p) {
    auto* serving = t.last(1, p, partition_change::kind::serving);
    REQUIRE(serving);
    CHECK(serving->epoch == 2);
    CHECK((*t.journals[1])->partition_lineage(p).value().back().epoch == 2);
  }
  // And it goes on: a write at epoch 2 commits on a majority.
  t.auto_flush = true;
  t.run();
  auto res = t.write(1, command(stream_in(0), "y", "after", 2));
  REQUIRE(res);
  auto* committed = t.last(1, 0, partition_change::kind::committed);
  REQUIRE(committed);
  CHECK(committed->pos == res->last_position);
}

TEST_CASE("the self-fences of many appointments are one journal commit",
          "[replication][host]") {
  three_nodes t;
  auto& j = **t.journals[0];
  auto fenced = [&](partition_id p) { return j.partition_epoch(p).value(); };
  std::vector<std::pair<partition_id, uint64_t>> appointments;
  for (partition_id p = 0; p < partitions; ++p)
    appointments.emplace_back(p, 4);
  appointments.emplace_back(partitions + 7, 4); // not held: skipped
  REQUIRE_FALSE(t.hosts[0]->raise_fences(appointments));
  for (partition_id p = 0; p < partitions; ++p)
    CHECK(fenced(p) == 4);
  // The appointments write no fence of their own, and serve.
  for (partition_id p = 0; p < partitions; ++p) {
    REQUIRE_FALSE(t.appoint(0, p, 4));
    CHECK(t.hosts[0]->find(p)->current_phase() == phase::leader);
  }
  // Fences at or below the current ones are nothing to write.
  REQUIRE_FALSE(t.hosts[0]->raise_fences(appointments));
  for (partition_id p = 0; p < partitions; ++p)
    CHECK(fenced(p) == 4);
}

TEST_CASE("a leader appointed again at the next epoch carries its held "
          "replies, appointed further on or replaced it loses them",
          "[replication][host]") {
  three_nodes t;
  REQUIRE_FALSE(t.appoint(0, 1, 1));
  auto written = t.write(0, command(stream_in(1), "a", "c1", 1));
  REQUIRE(written);
  auto count = [&](partition_change::kind what) {
    return std::count_if(t.changes[0].begin(), t.changes[0].end(),
                         [&](const partition_change& c) {
                           return c.partition == 1 && c.what == what;
                         });
  };
  // The voters changed: the same leader at epoch 2.
  REQUIRE_FALSE(t.appoint(0, 1, 2));
  auto* carried = t.last(0, 1, partition_change::kind::carried);
  REQUIRE(carried);
  CHECK(carried->previous_epoch == 1);
  CHECK(carried->epoch == 2);
  CHECK(count(partition_change::kind::lost) == 0);
  CHECK(t.last(0, 1, partition_change::kind::serving)->epoch == 2);
  // Epoch 2's high watermark covers what epoch 1 wrote.
  CHECK(t.last(0, 1, partition_change::kind::committed)->epoch == 2);
  CHECK(t.last(0, 1, partition_change::kind::committed)->pos
        > written->last_position);
  // Appointed again two epochs on (another leader may have led between):
  // its replies are lost.
  REQUIRE_FALSE(t.appoint(0, 1, 4));
  CHECK(count(partition_change::kind::carried) == 1);
  REQUIRE(count(partition_change::kind::lost) == 1);
  CHECK(t.last(0, 1, partition_change::kind::lost)->epoch == 2);
  // Replaced by another leader: lost too.
  REQUIRE_FALSE(t.appoint(1, 1, 5));
  t.tick(1);
  CHECK(count(partition_change::kind::lost) == 2);
  CHECK(t.last(0, 1, partition_change::kind::lost)->epoch == 4);
}
