// annals -- tests: replicas driving real LMDB journals through journal_log.
#include "replication/journal_log.hpp"

#include "annals/persistence/errc.hpp"

#include "journal_backends.hpp"
#include "replication/event_entry.hpp"
#include "replication/replica.hpp"
#include "replication/write_stage.hpp"

#include <catch2/catch.hpp>

#include <deque>
#include <memory>
#include <optional>

using namespace annals;
using namespace annals::replication;
using annals::testing::lmdb_backend;

namespace {

const stream_id alice{"bank.account", "alice"};
const stream_id bob{"bank.account", "bob"};

journal_options one_partition() {
  auto opts = lmdb_backend::default_options();
  opts.partitions = 1;
  return opts;
}

append_request command(stream_id s, std::vector<std::string> bodies,
                       std::string id, uint64_t epoch) {
  append_request r;
  r.stream = std::move(s);
  r.command_id = std::move(id);
  r.epoch = epoch;
  for (auto& body : bodies) {
    event_data e;
    e.type = "t";
    e.payload = to_bytes(body);
    e.correlation_id = "corr-" + body;
    r.events.push_back(std::move(e));
  }
  return r;
}

/// Three replicas of partition 0 over three LMDB journals, on a FIFO
/// network that can cut a replica off; every write is durable at once.
struct journal_trio {
  journal_trio() {
    for (replica_id i = 0; i < 3; ++i) {
      journals.emplace_back(std::make_unique<lmdb_backend>(one_partition()));
      members.push_back({i, (*journals[i])->incarnation()});
    }
    for (replica_id i = 0; i < 3; ++i) {
      restart(i);
    }
  }

  void restart(replica_id i) {
    replicas[i].reset();
    auto log = journal_log::open(**journals[i], 0);
    REQUIRE(log);
    logs[i] = std::move(*log);
    replica_config cfg;
    cfg.self = i;
    replicas[i].emplace(cfg, *logs[i]);
  }

  void handle(replica_id i, effects& out) {
    for (auto& env : out.messages) {
      if (!cut[i] && !cut[env.to]) {
        queue.push_back({i, std::move(env)});
      }
    }
    if (out.sync_needed) {
      effects again;
      replicas[i]->on_synced(again);
      handle(i, again);
    }
  }

  void run() {
    while (!queue.empty()) {
      auto [from, env] = std::move(queue.front());
      queue.pop_front();
      if (cut[env.to] || cut[from]) {
        continue;
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

  void tick(replica_id i) {
    effects out;
    replicas[i]->tick(out);
    handle(i, out);
    run();
  }

  /// What a node does for a command: the runtime's writer appends to the
  /// leader's journal stamped with its epoch, then the replica ships it.
  caf::expected<append_result> write(replica_id i, append_request req) {
    auto res = (*journals[i])->append(req);
    if (!res) {
      return res;
    }
    if (auto err = logs[i]->refresh()) {
      return err;
    }
    effects out;
    replicas[i]->on_synced(out);
    handle(i, out);
    run();
    return res;
  }

  std::vector<recorded_event> events(replica_id i) {
    auto all = (*journals[i])->read_partition(0, 1);
    REQUIRE(all);
    return std::move(*all);
  }

  std::vector<std::unique_ptr<lmdb_backend>> journals;
  membership members;
  std::unique_ptr<journal_log> logs[3];
  std::optional<replica> replicas[3];
  bool cut[3] = {false, false, false};
  std::deque<std::pair<replica_id, envelope>> queue;
};

} // namespace

TEST_CASE("followers hold the leader's events verbatim, markers included",
          "[replication][journal-log]") {
  journal_trio t;
  REQUIRE_FALSE(t.appoint(0, 1));
  REQUIRE(t.replicas[0]->current_phase() == phase::leader);
  auto first = t.write(0, command(alice, {"a1", "a2", "a3"}, "c1", 1));
  REQUIRE(first);
  CHECK(first->first_position == 2); // after the epoch's marker
  REQUIRE(t.write(0, command(bob, {"b1"}, "", 1)));
  CHECK(t.replicas[0]->high_watermark() == 5);
  auto leader = t.events(0);
  REQUIRE(leader.size() == 5);
  CHECK(leader[0].stream == marker_stream(0, 1));
  CHECK(leader[0].type == marker_type);
  CHECK(leader[1].ends_append == false);
  CHECK(leader[3].ends_append == true);
  for (replica_id i = 1; i < 3; ++i) {
    CHECK(t.events(i) == leader);
    CHECK((*t.journals[i])->partition_lineage(0).value()
          == std::vector<epoch_start>{{1, 1}});
    auto report = (*t.journals[i])->verify();
    REQUIRE(report);
    CHECK(report->problems.empty());
  }
  // Failover: the new leader dedupes a retry of c1 and fences the old one.
  REQUIRE_FALSE(t.appoint(1, 2));
  REQUIRE(t.replicas[1]->current_phase() == phase::leader);
  auto retry = t.write(1, command(alice, {"a1", "a2", "a3"}, "c1", 2));
  REQUIRE(retry);
  CHECK(retry->duplicate);
  CHECK(retry->first_position == 2);
  auto stale = (*t.journals[0])->append(command(alice, {"late"}, "c9", 1));
  REQUIRE_FALSE(stale);
  CHECK(is(stale.error(), journal_errc::stale_epoch));
  REQUIRE(t.write(1, command(alice, {"a4"}, "c2", 2)));
  CHECK(t.events(0) == t.events(1));
  CHECK(t.events(2) == t.events(1));
  CHECK((*t.journals[0])->partition_lineage(0).value()
        == std::vector<epoch_start>{{1, 1}, {2, 6}});
}

TEST_CASE("a deposed leader's unreplicated suffix goes, with its command ids",
          "[replication][journal-log]") {
  journal_trio t;
  REQUIRE_FALSE(t.appoint(0, 1));
  REQUIRE(t.write(0, command(alice, {"a1"}, "c1", 1)));
  t.cut[0] = true;
  // Written on the leader alone: never acknowledged.
  auto lost = t.write(0, command(alice, {"x1", "x2"}, "c2", 1));
  REQUIRE(lost);
  CHECK(t.replicas[0]->high_watermark() == 2);
  REQUIRE_FALSE(t.appoint(1, 2));
  REQUIRE(t.replicas[1]->current_phase() == phase::leader);
  REQUIRE(t.write(1, command(bob, {"b1"}, "c3", 2)));
  t.cut[0] = false;
  t.tick(1);
  CHECK(t.events(0) == t.events(1));
  CHECK((*t.journals[0])->last_revision(alice).value() == 1);
  CHECK((*t.journals[0])->find_command(alice, "c2").value() == std::nullopt);
  // A retry of the lost command runs again on the new leader.
  auto retry = t.write(1, command(alice, {"x1", "x2"}, "c2", 2));
  REQUIRE(retry);
  CHECK_FALSE(retry->duplicate);
  CHECK(t.events(0) == t.events(1));
  auto report = (*t.journals[0])->verify();
  REQUIRE(report);
  CHECK(report->problems.empty());
}

TEST_CASE("a reopened journal reports the same end, fence and lineage",
          "[replication][journal-log]") {
  journal_trio t;
  REQUIRE_FALSE(t.appoint(0, 1));
  REQUIRE(t.write(0, command(alice, {"a1", "a2"}, "c1", 1)));
  REQUIRE_FALSE(t.appoint(2, 3));
  auto before_end = t.logs[1]->end();
  auto before_lineage = t.logs[1]->entries_lineage();
  auto incarnation = t.logs[1]->incarnation();
  t.logs[1].reset();
  t.replicas[1].reset();
  t.journals[1]->reopen();
  t.restart(1);
  CHECK(t.logs[1]->end() == before_end);
  CHECK(t.logs[1]->fence() == 3);
  CHECK(t.logs[1]->entries_lineage() == before_lineage);
  CHECK(t.logs[1]->incarnation() == incarnation);
  CHECK(t.replicas[1]->epoch() == 3);
}

TEST_CASE("journal_log refuses what is not whole appends of its partition",
          "[replication][journal-log]") {
  auto opts = lmdb_backend::default_options();
  opts.partitions = 8;
  lmdb_backend source{opts};
  lmdb_backend target{opts};
  auto p = partition_of(alice, 8);
  auto other = stream_id{"bank.account", "x"};
  for (int k = 0; partition_of(other, 8) == p; ++k)
    other.id = "x" + std::to_string(k);
  REQUIRE(source->append(command(alice, {"a1", "a2"}, "c1", 1)));
  REQUIRE(source->append(command(other, {"o1"}, "c2", 1)));
  auto src = journal_log::open(*source, p);
  REQUIRE(src);
  auto entries = (*src)->read(1, 2);
  REQUIRE(entries);
  REQUIRE(entries->size() == 2);
  auto log = journal_log::open(*target, p);
  REQUIRE(log);
  auto& l = **log;
  auto refused = [&](const caf::error& err, journal_errc code) {
    CHECK(is(err, code));
    CHECK(l.end() == 0);
    CHECK(target->partition_ends().value()[p] == 0);
  };
  SECTION("a partial append") {
    refused(l.append(0, 1, {entries->front()}), journal_errc::invalid_argument);
  }
  SECTION("a malformed entry") {
    auto bad = *entries;
    bad.front().payload.resize(5);
    refused(l.append(0, 1, bad), journal_errc::invalid_argument);
    bad.front().payload = std::string(1, '\x07') + (*entries)[0].payload;
    refused(l.append(0, 1, bad), journal_errc::invalid_argument);
  }
  SECTION("another partition's stream") {
    auto q = partition_of(other, 8);
    auto foreign = journal_log::open(*source, q);
    REQUIRE(foreign);
    auto theirs = (*foreign)->read(1, 1);
    REQUIRE(theirs);
    refused(l.append(0, 1, *theirs), journal_errc::invalid_argument);
  }
  SECTION("entries that do not continue one append") {
    auto mixed = *entries;
    mixed[1].epoch = 2;
    refused(l.append(0, 2, mixed), journal_errc::invalid_argument);
  }
  SECTION("a stale writer") {
    REQUIRE_FALSE(l.raise_fence(5));
    refused(l.append(0, 4, *entries), journal_errc::stale_epoch);
    CHECK(l.fence() == 5);
  }
  SECTION("a wrong end") {
    refused(l.append(3, 1, *entries), journal_errc::wrong_expected_position);
  }
  SECTION("a conflicting stream undoes the whole batch") {
    // alice exists already at the target: the copy's revision 1 conflicts.
    REQUIRE(target->append(command(alice, {"mine"}, "", 0)));
    REQUIRE_FALSE(l.refresh());
    auto with_marker = l.append_marker(1, 1);
    REQUIRE_FALSE(with_marker);
    auto conflict = l.append(2, 1, *entries);
    CHECK(is(conflict, journal_errc::wrong_expected_revision));
    CHECK(l.end() == 2);
    CHECK(target->partition_ends().value()[p] == 2);
  }
  SECTION("a cut inside an append") {
    REQUIRE_FALSE(l.append(0, 1, *entries));
    CHECK(l.end() == 2);
    CHECK(is(l.truncate(1), journal_errc::invalid_argument));
    CHECK(l.end() == 2);
    REQUIRE_FALSE(l.truncate(0));
    CHECK(l.end() == 0);
  }
}

TEST_CASE("an entry's payload survives the round trip and rejects damage",
          "[replication][journal-log]") {
  event_view v;
  v.category = "c";
  v.id = "i";
  v.rev = 7;
  v.type = "t";
  v.schema_version = 3;
  v.timestamp_ns = -5;
  v.command_id = "cmd";
  v.correlation_id = "corr";
  v.causation_id = "cause";
  v.epoch = 9;
  std::string body = "payload";
  v.payload = reinterpret_cast<const std::byte*>(body.data());
  v.payload_size = body.size();
  v.ends_append = false;
  auto entry = to_entry(v);
  CHECK(entry.epoch == 9);
  CHECK_FALSE(entry.ends_append);
  auto ev = decode_entry(entry.payload);
  REQUIRE(ev);
  CHECK(ev->stream == stream_id{"c", "i"});
  CHECK(ev->rev == 7);
  CHECK(ev->type == "t");
  CHECK(ev->schema_version == 3);
  CHECK(ev->timestamp_ns == -5);
  CHECK(ev->command_id == "cmd");
  CHECK(ev->correlation_id == "corr");
  CHECK(ev->causation_id == "cause");
  CHECK(bytes_to_string(ev->payload) == "payload");
  for (std::size_t n = 0; n < entry.payload.size(); ++n)
    CHECK_FALSE(decode_entry(std::string_view{entry.payload}.substr(0, n)));
  CHECK_FALSE(decode_entry(entry.payload + "x"));
}

TEST_CASE("staged appends of two partitions land in one commit, and a part "
          "that fails is undone alone",
          "[replication][journal-log]") {
  auto opts = lmdb_backend::default_options();
  opts.partitions = 8;
  lmdb_backend source{opts};
  lmdb_backend target{opts};
  auto pa = partition_of(alice, 8);
  auto other = stream_id{"bank.account", "x"};
  for (int k = 0; partition_of(other, 8) == pa; ++k)
    other.id = "x" + std::to_string(k);
  auto pb = partition_of(other, 8);
  REQUIRE(source->append(command(alice, {"a1", "a2"}, "c1", 1)));
  REQUIRE(source->append(command(other, {"o1"}, "c2", 1)));
  auto ea = (*journal_log::open(*source, pa))->read(1, 2);
  auto eb = (*journal_log::open(*source, pb))->read(1, 1);
  REQUIRE(ea);
  REQUIRE(eb);
  write_stage stage{*target};
  auto la = journal_log::open(*target, pa, &stage);
  auto lb = journal_log::open(*target, pb, &stage);
  REQUIRE(la);
  REQUIRE(lb);
  auto& a = **la;
  auto& b = **lb;
  REQUIRE_FALSE(a.append(0, 1, *ea));
  REQUIRE_FALSE(b.append(0, 1, *eb));
  // Counted, not durable, not in the journal yet.
  CHECK(a.end() == 2);
  CHECK(a.durable_end() == 0);
  CHECK(a.entries_lineage() == lineage{{1, 1}});
  CHECK(target->partition_ends().value()[pa] == 0);
  // An append that does not continue the staged end is refused at once.
  CHECK(is(a.append(0, 1, *ea), journal_errc::wrong_expected_position));
  SECTION("a fence is staged too: an older writer is refused at once, the "
          "flush makes it durable with the appends") {
    REQUIRE_FALSE(b.raise_fence(3));
    CHECK(b.fence() == 3);
    CHECK(b.durable_end() == 0); // nothing committed
    CHECK(target->partition_epoch(pb).value() == 0);
    CHECK(is(b.append(1, 2, *eb), journal_errc::stale_epoch));
    REQUIRE_FALSE(stage.flush());
    CHECK(stage.commits() == 1);
    CHECK(stage.take_failed().empty());
    CHECK(a.durable_end() == 2);
    CHECK(b.durable_end() == 1);
    CHECK_FALSE(b.staged());
    CHECK(target->partition_epoch(pb).value() == 3);
    CHECK(stage.empty());
  }
  SECTION("a new leader's marker is staged: counted in the lineage at once, "
          "durable with the flush") {
    REQUIRE_FALSE(b.raise_fence(4));
    REQUIRE_FALSE(b.append_marker(1, 4));
    CHECK(b.end() == 2);
    CHECK(b.durable_end() == 0);
    CHECK(b.entries_lineage() == lineage{{1, 1}, {4, 2}});
    CHECK(is(b.append_marker(1, 4), journal_errc::wrong_expected_position));
    REQUIRE_FALSE(stage.flush());
    CHECK(b.durable_end() == 2);
    CHECK(target->partition_lineage(pb).value()
          == std::vector<epoch_start>{{1, 1}, {4, 2}});
    CHECK(target->partition_epoch(pb).value() == 4);
  }
  SECTION("one flush commits both") {
    REQUIRE_FALSE(stage.flush());
    CHECK(stage.commits() == 1);
    CHECK(stage.take_failed().empty());
    CHECK(a.durable_end() == 2);
    CHECK(b.durable_end() == 1);
    CHECK(target->read_partition(pa, 1).value().size() == 2);
    CHECK(target->read_partition(pb, 1).value().size() == 1);
  }
  SECTION("reading a staged log commits it first") {
    auto back = a.read(1, 2);
    REQUIRE(back);
    CHECK(back->size() == 2);
    CHECK(a.durable_end() == 2);
    CHECK(b.durable_end() == 1); // the stage commits as a whole
  }
  SECTION("a part that no longer fits is undone, the other lands") {
    // Someone else wrote to pa meanwhile: the staged part conflicts.
    REQUIRE(target->append(command(alice, {"mine"}, "", 0)));
    REQUIRE_FALSE(stage.flush());
    CHECK(stage.take_failed() == std::vector<partition_id>{pa});
    CHECK(a.end() == 1); // re-read: only the other writer's event
    CHECK(a.durable_end() == 1);
    CHECK(target->read_partition(pa, 1).value().size() == 1);
    CHECK(b.durable_end() == 1);
    CHECK(target->read_partition(pb, 1).value().size() == 1);
  }
  SECTION("a log that goes away takes its staged part with it") {
    la->reset();
    REQUIRE_FALSE(stage.flush());
    CHECK(target->partition_ends().value()[pa] == 0);
    CHECK(b.durable_end() == 1);
  }
}

TEST_CASE("advance takes the leader's own appends without reading the journal, "
          "and re-reads when they start an epoch",
          "[replication][journal-log]") {
  lmdb_backend j{one_partition()};
  auto opened = journal_log::open(*j, 0);
  REQUIRE(opened);
  auto& log = **opened;
  REQUIRE(j->append(command(alice, {"a1"}, "c1", 1)));
  REQUIRE_FALSE(log.advance(1, 1)); // epoch 1 starts here: re-read
  CHECK(log.end() == 1);
  CHECK(log.entries_lineage() == lineage{{1, 1}});
  REQUIRE(j->append(command(alice, {"a2", "a3"}, "c2", 1)));
  REQUIRE_FALSE(log.advance(3, 1));
  CHECK(log.end() == 3);
  CHECK(log.entries_lineage() == lineage{{1, 1}});
  REQUIRE(j->append(command(bob, {"b1"}, "c3", 2)));
  REQUIRE_FALSE(log.advance(4, 2));
  CHECK(log.end() == 4);
  CHECK(log.entries_lineage() == lineage{{1, 1}, {2, 4}});
  // An end behind the log's (a truncation elsewhere): re-read.
  REQUIRE(j->truncate_partition(0, 3));
  REQUIRE_FALSE(log.advance(2, 1));
  CHECK(log.end() == 3);
}
