// annals -- unit tests of the history checker: hand-written histories and
// small journals, one per anomaly class, and a clean history that passes.
#include "annals/checker/checker.hpp"

#include "annals/persistence/forwarding_journal.hpp"

#include "child_process.hpp"
#include "temp_dir.hpp"

#include <catch2/catch.hpp>

#include <sys/wait.h>

#include <fstream>
#include <sstream>

using namespace annals;
using namespace annals::checker;

namespace {

journal_options small(uint32_t dedupe = 1000) {
  journal_options o;
  o.partitions = 4;
  o.dedupe_window = dedupe;
  return o;
}

/// Appends one event of command `cmd` to `t/<id>`; returns its revision.
revision put(journal& j, const std::string& id, const std::string& cmd,
             uint64_t epoch = 1, const std::string& payload = "x") {
  append_request r;
  r.stream = {"t", id};
  r.command_id = cmd;
  r.epoch = epoch;
  event_data d;
  d.type = "t.ev";
  d.timestamp_ns = 1; // fixed, so copies on two journals are identical
  d.payload = to_bytes(payload);
  r.events.push_back(std::move(d));
  auto res = j.append(std::move(r));
  REQUIRE(res);
  return res->last_revision;
}

history parse(const std::string& text) {
  std::istringstream in{text};
  std::string err;
  auto h = parse_history(in, err);
  INFO(err);
  REQUIRE(h);
  return *h;
}

report run(const std::string& text, std::vector<journal_source> js,
           options opts = {}) {
  auto rep = check(parse(text), js, opts);
  INFO(rep.to_string());
  return rep;
}

/// Hides one revision of one stream from partition scans (a gap).
class gappy_journal : public forwarding_journal {
public:
  gappy_journal(std::shared_ptr<journal> inner, revision hide)
    : forwarding_journal(std::move(inner)), hide_(hide) {
  }
  caf::error scan_partition(partition_id p, position from,
                            const event_visitor& f) const override {
    return forwarding_journal::scan_partition(
      p, from,
      [&](const event_view& ev) { return ev.rev == hide_ ? true : f(ev); });
  }

private:
  revision hide_;
};

} // namespace

TEST_CASE("a clean history passes") {
  auto n1 = make_memory_journal(small());
  auto n2 = make_memory_journal(small());
  put(*n1, "a", "c1");
  put(*n1, "a", "c2");
  put(*n1, "b", "c3");
  put(*n1, "a", "c5"); // unknown outcome, applied
  put(*n2, "a", "c1"); // an old owner's identical prefix
  auto rep = run(R"(
# a comment
invoke k1 t/a c1
ok k1 t/a c1 1
invoke k2 t/b c3
invoke k1 t/a c2
ok k2 t/b c3 1..1
ok k1 t/a c2 2
invoke k1 t/a c2
ok k1 t/a c2 2
invoke k1 t/a c4
fail k1 t/a c4
invoke k2 t/a c5
unknown k2 t/a c5
invoke k2 t/a c6
unknown k2 t/a c6
seen s1 t/a 1
seen s1 t/a 2 c2
seen s1 t/a 1
seen s1 t/a 2
seen s1 t/a 3
seen s1 t/b 1
)",
                 {{"n1", n1.get()}, {"n2", n2.get()}}, options{1, 8});
  CHECK(rep.valid());
  CHECK(rep.ops == 20);
  CHECK(rep.oks == 4);
  CHECK(rep.events == 5);
  CHECK(rep.subscriber_duplicates == 2);
  CHECK(rep.seen == 6);
}

TEST_CASE("lost writes and inconsistent acks") {
  auto n1 = make_memory_journal(small());
  put(*n1, "a", "c1");
  put(*n1, "a", "c2");
  auto rep = run(R"(
invoke k1 t/a c1
ok k1 t/a c1 1
invoke k1 t/a c9
ok k1 t/a c9 3
invoke k2 t/a c2
ok k2 t/a c2 1
invoke k2 t/b c7
ok k2 t/b c7
invoke k1 t/a c1
ok k1 t/a c1 2
)",
                 {{"n1", n1.get()}});
  // c9 at a missing revision, c2 where c1 is, c7 on an absent stream.
  CHECK(rep.count("lost-write") == 3);
  CHECK(rep.count("inconsistent-ack") == 1);
  // c2 was invoked after c9's ack at 3 and acknowledged at 1.
  CHECK(rep.count("realtime-order") == 1);
  CHECK_FALSE(rep.valid());
}

TEST_CASE("duplicates") {
  auto n1 = make_memory_journal(small(0)); // dedupe off
  put(*n1, "a", "c1");
  put(*n1, "a", "c2");
  put(*n1, "a", "c1"); // separated: always a duplicate
  put(*n1, "b", "c3");
  put(*n1, "b", "c3"); // adjacent: needs the ack or the events bound
  auto text = R"(
invoke k1 t/a c1
ok k1 t/a c1 1
invoke k1 t/b c3
unknown k1 t/b c3
)";
  SECTION("without a bound only the separated one is found") {
    auto rep = run(text, {{"n1", n1.get()}});
    CHECK(rep.count("duplicate") == 1);
  }
  SECTION("one event per command: both") {
    auto rep = run(text, {{"n1", n1.get()}}, options{1, 8});
    CHECK(rep.count("duplicate") == 2);
  }
  SECTION("an acknowledged range bounds the run") {
    auto rep = run(R"(
invoke k1 t/b c3
ok k1 t/b c3 1..1
)",
                   {{"n1", n1.get()}});
    CHECK(rep.count("duplicate") == 2);
  }
}

TEST_CASE("gaps in a journal") {
  std::shared_ptr<journal> inner = make_memory_journal(small());
  put(*inner, "a", "c1");
  put(*inner, "a", "c2");
  put(*inner, "a", "c3");
  gappy_journal g{inner, 2};
  auto rep = run("", {{"n1", &g}});
  // Revision 3 where 2 was due, and position 3 after position 1.
  CHECK(rep.count("gap") == 2);
}

TEST_CASE("real-time order per aggregate") {
  auto n1 = make_memory_journal(small());
  put(*n1, "a", "b1");
  put(*n1, "a", "a1");
  put(*n1, "a", "x1");
  auto rep = run(R"(
invoke k1 t/a a1
ok k1 t/a a1 2
invoke k2 t/a b1
ok k2 t/a b1 1
invoke k3 t/a x1
invoke k1 t/a a2
fail k1 t/a a2
ok k3 t/a x1 3
)",
                 {{"n1", n1.get()}});
  // b1 was invoked after a1's ack at 2 but landed at 1.
  CHECK(rep.count("realtime-order") == 1);
  CHECK(rep.count("lost-write") == 0);
}

TEST_CASE("two histories across journals") {
  auto owner = make_memory_journal(small());
  auto old = make_memory_journal(small());
  write_batch fence;
  fence.fences.push_back({partition_of({"t", "a"}, 4), 2});
  REQUIRE(owner->commit(fence));
  put(*owner, "a", "c1", 2);
  put(*owner, "a", "c2", 2);
  put(*old, "a", "c1", 1); // same command, other epoch
  put(*old, "a", "cX", 1); // another command at revision 2
  put(*old, "a", "cY", 1); // beyond the owner's end
  auto rep = run("", {{"old", old.get()}, {"owner", owner.get()}});
  CHECK(rep.count("two-histories") == 3);
  REQUIRE(rep.anomalies.count("two-histories"));
  auto ex = rep.anomalies.at("two-histories").examples;
  CHECK(ex[0].find("epoch 2 vs 1") != std::string::npos);
}

TEST_CASE("epochs decreasing along a partition") {
  auto n1 = make_memory_journal(small());
  put(*n1, "a", "c1", 5);
  put(*n1, "a", "c2", 0); // 0 is never fenced by the journal
  auto rep = run("", {{"n1", n1.get()}});
  CHECK(rep.count("stale-epoch") == 1);
}

TEST_CASE("definitely failed commands must not appear") {
  auto n1 = make_memory_journal(small());
  put(*n1, "a", "c1");
  put(*n1, "a", "c2");
  auto rep = run(R"(
invoke k1 t/a c1
fail k1 t/a c1
invoke k1 t/a c2
fail k1 t/a c2
invoke k1 t/a c2
unknown k1 t/a c2
invoke k1 t/a c3
fail k1 t/a c3
)",
                 {{"n1", n1.get()}});
  // c2's second attempt may have applied it; c3 is absent.
  CHECK(rep.count("aborted-read") == 1);
}

TEST_CASE("subscribers must see gap-free, ordered revisions") {
  auto n1 = make_memory_journal(small());
  put(*n1, "a", "c1");
  put(*n1, "a", "c2");
  put(*n1, "a", "c3");
  SECTION("a skipped revision") {
    auto rep = run("seen s1 t/a 1\nseen s1 t/a 3\n", {{"n1", n1.get()}});
    CHECK(rep.count("sub-gap") == 1);
  }
  SECTION("reordered: 2 before 1") {
    auto rep = run("seen s1 t/a 2\nseen s1 t/a 1\n", {{"n1", n1.get()}});
    CHECK(rep.count("sub-gap") == 1);
  }
  SECTION("redelivery is allowed and counted") {
    auto rep = run("seen s1 t/a 1\nseen s1 t/a 2\nseen s1 t/a 1\n"
                   "seen s2 t/a 1\n",
                   {{"n1", n1.get()}});
    CHECK(rep.valid());
    CHECK(rep.subscriber_duplicates == 1);
  }
  SECTION("a revision the journal does not have, or another command") {
    auto rep = run("seen s1 t/a 1 c9\nseen s1 t/a 2\nseen s1 t/a 3\n"
                   "seen s1 t/a 4\n",
                   {{"n1", n1.get()}});
    CHECK(rep.count("sub-phantom") == 2);
    CHECK(rep.count("sub-gap") == 0);
  }
}

TEST_CASE("malformed histories are refused with the line") {
  std::string err;
  for (auto text :
       {"ok k1 t/a", "frob k1 t/a c1", "ok k1 t/a c1 0", "ok k1 t/a c1 3..2",
        "seen s1 t/a x", "invoke k1 ta c1", "invoke k1 t/a c1 7"}) {
    std::istringstream in{std::string{"invoke k1 t/a c0\n"} + text + "\n"};
    INFO(text);
    CHECK_FALSE(parse_history(in, err));
    CHECK(err.rfind("line 2:", 0) == 0);
  }
  // Round trip of the writer's format.
  op x{op_type::ok, "k1", "t/a", "c1", 3, 4, 0};
  std::istringstream in{to_line(x) + "\n"
                        + to_line({op_type::seen, "s", "t/a", "", 0, 9, 0})};
  auto h = parse_history(in, err);
  REQUIRE(h);
  REQUIRE(h->ops.size() == 2);
  CHECK(h->ops[0].first == 3);
  CHECK(h->ops[0].last == 4);
  CHECK(h->ops[1].last == 9);
}

TEST_CASE("annals-check: exit status and report on LMDB journals") {
  annals::testing::temp_dir tmp;
  auto dir = tmp.sub("n1");
  {
    auto j = open_lmdb_journal(dir, [] {
      auto o = small();
      o.sync = durability::unsafe_no_sync;
      o.initial_map_bytes = uint64_t{16} << 20;
      return o;
    }());
    REQUIRE(j);
    put(**j, "a", "c1");
    put(**j, "a", "c2");
  }
  auto run_tool = [&](const std::string& text, std::string& out) {
    auto file = tmp.sub("history.txt");
    std::ofstream{file} << text;
    annals::testing::child_process child{
      {ANNALS_CHECK_TOOL, "--history=" + file, "--journal=" + dir,
       "--max-events-per-command=1"}};
    child.read_lines([&](const std::string& l) { out += l + "\n"; });
    auto st = child.wait();
    REQUIRE(WIFEXITED(st));
    return WEXITSTATUS(st);
  };
  std::string out;
  CHECK(run_tool("invoke k t/a c1\nok k t/a c1 1\ninvoke k t/a c2\n"
                 "ok k t/a c2 2\n",
                 out)
        == 0);
  CHECK(out.find("VALID") != std::string::npos);
  out.clear();
  CHECK(run_tool("invoke k t/a c3\nok k t/a c3 3\n", out) == 1);
  CHECK(out.find("lost-write: 1") != std::string::npos);
  out.clear();
  CHECK(run_tool("bogus\n", out) == 2);
}
