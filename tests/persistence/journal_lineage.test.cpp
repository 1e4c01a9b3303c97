// annals -- conformance of what replication builds on, on every backend:
// truncating a partition's suffix, epoch lineage, writer epochs apart from
// stamped epochs, expected partition ends, and the incarnation id.
#include "annals/persistence/journal.hpp"

#include "journal_backends.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cctype>

using namespace annals;
using annals::testing::lmdb_backend;
using annals::testing::memory_backend;
using annals::testing::one;

namespace {

template <class Backend>
Backend with_partitions(uint32_t n) {
  journal_options opts;
  if constexpr (std::is_same_v<Backend, lmdb_backend>)
    opts = lmdb_backend::default_options();
  opts.partitions = n;
  return Backend{opts};
}

append_request stamped(stream_id s, std::string body, uint64_t epoch,
                       uint64_t writer_epoch = 0) {
  auto r = one(std::move(s), std::move(body));
  r.epoch = epoch;
  r.writer_epoch = writer_epoch;
  return r;
}

std::vector<std::string> bodies(const std::vector<recorded_event>& events) {
  std::vector<std::string> out;
  for (const auto& ev : events)
    out.push_back(bytes_to_string(ev.payload));
  return out;
}

const stream_id a{"t", "a"};
const stream_id b{"t", "b"};

} // namespace

#define JOURNAL_TEST(name)                                                     \
  TEMPLATE_TEST_CASE(name, "[persistence][conformance][replication]",          \
                     lmdb_backend, memory_backend)

JOURNAL_TEST("truncating a partition removes its suffix and what derives from "
             "it") {
  auto j = with_partitions<TestType>(1);
  // Positions 1..6: a1 b1 a2 b2 a3(cmd x) b3
  REQUIRE(j->append(one(a, "a1")));
  REQUIRE(j->append(one(b, "b1")));
  REQUIRE(j->append(one(a, "a2")));
  REQUIRE(j->append(one(b, "b2")));
  REQUIRE(j->append(one(a, "a3", "x")));
  REQUIRE(j->append(one(b, "b3")));
  write_batch extras;
  extras.snapshots.push_back(snapshot{a, 3, "t.s", 1, to_bytes("S3")});
  extras.snapshots.push_back(snapshot{a, 1, "t.s", 1, to_bytes("S1")});
  extras.checkpoints.push_back({"reader", 0, 6});
  extras.checkpoints.push_back({"slow", 0, 2});
  REQUIRE(j->commit(extras));

  auto removed = j->truncate_partition(0, 4);
  REQUIRE(removed);
  CHECK(*removed == 2);
  j.reopen();
  CHECK(bodies(j->read_stream(a, 1).value())
        == std::vector<std::string>{"a1", "a2"});
  CHECK(bodies(j->read_stream(b, 1).value())
        == std::vector<std::string>{"b1", "b2"});
  CHECK(j->read_partition(0, 1).value().size() == 4);
  CHECK(j->last_revision(a).value() == 2);
  CHECK(j->partition_ends().value()[0] == 4);
  // The snapshot past a's new end is gone; the older one stays.
  auto snap = j->load_snapshot(a);
  REQUIRE(snap);
  REQUIRE(snap->has_value());
  CHECK((*snap)->rev == 1);
  // Checkpoints past the cut come down to it; others stay.
  CHECK(j->load_checkpoint("reader", 0).value() == std::optional<position>{4});
  CHECK(j->load_checkpoint("slow", 0).value() == std::optional<position>{2});
  // The truncated command id is forgotten: a retry runs again.
  CHECK_FALSE(j->find_command(a, "x").value().has_value());
  auto again = j->append(one(a, "a3-again", "x"));
  REQUIRE(again);
  CHECK_FALSE(again->duplicate);
  CHECK(again->first_revision == 3);
  CHECK(again->first_position == 5);
  auto rep = j->verify();
  REQUIRE(rep);
  CHECK(rep->problems.empty());
}

JOURNAL_TEST("truncating at or past the end removes nothing") {
  auto j = with_partitions<TestType>(1);
  REQUIRE(j->append(one(a, "a1")));
  CHECK(j->truncate_partition(0, 1).value() == 0);
  CHECK(j->truncate_partition(0, 7).value() == 0);
  CHECK(j->read_stream(a, 1).value().size() == 1);
  auto bad = j->truncate_partition(1, 0);
  REQUIRE_FALSE(bad);
  CHECK(is(bad.error(), journal_errc::invalid_argument));
}

JOURNAL_TEST("truncating to zero empties the partition and its streams") {
  auto j = with_partitions<TestType>(2);
  for (int i = 0; i < 20; ++i)
    REQUIRE(j->append(one({"t", "s" + std::to_string(i % 5)}, "e")));
  auto ends = j->partition_ends().value();
  for (partition_id p = 0; p < 2; ++p)
    CHECK(j->truncate_partition(p, 0).value() == ends[p]);
  for (int i = 0; i < 5; ++i) {
    stream_id s{"t", "s" + std::to_string(i)};
    CHECK(j->last_revision(s).value() == 0);
    CHECK(j->read_stream(s, 1).value().empty());
    auto first = j->append(one(s, "again"));
    REQUIRE(first);
    CHECK(first->first_revision == 1);
  }
  auto rep = j->verify();
  REQUIRE(rep);
  CHECK(rep->problems.empty());
}

JOURNAL_TEST("a partition's lineage records where each stamped epoch began") {
  auto j = with_partitions<TestType>(1);
  REQUIRE(j->append(one(a, "unowned")));     // epoch 0: no entry
  REQUIRE(j->append(stamped(a, "e3-1", 3))); // position 2
  REQUIRE(j->append(stamped(b, "e3-2", 3))); // same epoch: no entry
  REQUIRE(j->append(stamped(a, "e5-1", 5))); // position 4
  REQUIRE(j->append(stamped(b, "e5-2", 5)));
  j.reopen();
  auto lineage = j->partition_lineage(0);
  REQUIRE(lineage);
  CHECK(*lineage == std::vector<epoch_start>{{3, 2}, {5, 4}});
  // A truncation into epoch 5's range keeps its start; one before it drops
  // the entry.
  REQUIRE(j->truncate_partition(0, 4));
  CHECK(j->partition_lineage(0).value()
        == std::vector<epoch_start>{{3, 2}, {5, 4}});
  REQUIRE(j->truncate_partition(0, 3));
  CHECK(j->partition_lineage(0).value() == std::vector<epoch_start>{{3, 2}});
  // Epoch 5 may begin again at the new end.
  REQUIRE(j->append(stamped(a, "e5-again", 5)));
  CHECK(j->partition_lineage(0).value()
        == std::vector<epoch_start>{{3, 2}, {5, 4}});
  auto bad = j->partition_lineage(1);
  REQUIRE_FALSE(bad);
  CHECK(is(bad.error(), journal_errc::invalid_argument));
}

JOURNAL_TEST(
  "the writer's epoch is fenced apart from the epoch on its events") {
  auto j = with_partitions<TestType>(1);
  // A follower at fence epoch 7 copies a leader's events of epoch 3.
  auto copied = j->append(stamped(a, "from-leader", 3, 7));
  REQUIRE(copied);
  auto events = j->read_stream(a, 1).value();
  REQUIRE(events.size() == 1);
  CHECK(events[0].meta.epoch == 3);
  CHECK(j->partition_epoch(0).value() == 7);
  CHECK(j->partition_lineage(0).value() == std::vector<epoch_start>{{3, 1}});
  // A writer below the fence is refused even if its events' epoch is high.
  auto stale = j->append(stamped(a, "stale", 9, 6));
  REQUIRE_FALSE(stale);
  CHECK(is(stale.error(), journal_errc::stale_epoch));
  // Without a writer epoch the stamped one is checked.
  auto old = j->append(stamped(a, "old", 4));
  REQUIRE_FALSE(old);
  CHECK(is(old.error(), journal_errc::stale_epoch));
}

JOURNAL_TEST("an expected partition end is checked inside the transaction") {
  auto j = with_partitions<TestType>(2);
  auto pa = partition_of(a, 2);
  stream_id other{"t", "other"};
  int i = 0;
  while (partition_of(other, 2) == pa)
    other.id = "other" + std::to_string(++i);
  REQUIRE(j->append(one(a, "a1")));
  write_batch batch;
  batch.appends.push_back(one(a, "a2"));
  batch.appends.push_back(one(other, "o1"));
  batch.expected_ends.push_back({pa, 0}); // wrong: it ends at 1
  auto res = j->commit(batch);
  REQUIRE(res);
  REQUIRE_FALSE(res->appends[0]);
  CHECK(is(res->appends[0].error(), journal_errc::wrong_expected_position));
  CHECK(res->appends[1]); // the other partition commits
  CHECK(j->last_revision(a).value() == 1);
  batch.expected_ends[0].end = 1;
  batch.appends.pop_back();
  auto ok = j->commit(batch);
  REQUIRE(ok);
  REQUIRE(ok->appends[0]);
  CHECK(ok->appends[0]->first_position == 2);
  write_batch out_of_range;
  out_of_range.expected_ends.push_back({2, 0});
  auto bad = j->commit(out_of_range);
  REQUIRE_FALSE(bad);
  CHECK(is(bad.error(), journal_errc::invalid_argument));
}

JOURNAL_TEST("a journal has an incarnation id of 32 hex digits") {
  TestType j1;
  TestType j2;
  auto id = j1->incarnation();
  CHECK(id.size() == 32);
  CHECK(std::all_of(id.begin(), id.end(),
                    [](char c) { return std::isxdigit(c) != 0; }));
  CHECK(id != j2->incarnation());
  j1.reopen();
  CHECK(j1->incarnation() == id);
}
