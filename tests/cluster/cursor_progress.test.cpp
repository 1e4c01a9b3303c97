// annals -- the lag of a cluster-wide projection (node::subscriptions) on a
// one-node cluster in this process: a projection held behind shows every
// event it has not read, also those committed while it is stuck; a caught-up
// one shows 0 even when the last events are of a category it skips (the
// bank's balance metric once counted those forever).
#include "annals/cluster/node.hpp"
#include "annals/runtime_types.hpp"

#include "await.hpp"
#include "temp_dir.hpp"

#include <caf/scoped_actor.hpp>
#include <catch2/catch.hpp>

#include <atomic>
#include <future>
#include <optional>

using namespace annals;
using namespace std::chrono_literals;
using annals::testing::await;

namespace {

struct one_node {
  annals::testing::temp_dir dir;
  cluster::config cfg;
  std::optional<caf::actor_system> sys;
  std::unique_ptr<runtime> rt;
  std::unique_ptr<cluster::node> node;

  one_node() {
    // A projection handler below blocks its thread on purpose.
    cfg.set("scheduler.max-threads", 4);
    sys.emplace(cfg);
    runtime_config rc;
    rc.data_dir = dir.path();
    rc.journal.partitions = 16;
    rc.journal.sync = durability::unsafe_no_sync;
    rc.journal.initial_map_bytes = uint64_t{16} << 20;
    auto r = runtime::start(*sys, rc);
    REQUIRE(r);
    rt = std::move(*r);
    cluster::node_config nc;
    nc.name = "n1";
    auto n = cluster::node::start(*sys, *rt, nc);
    REQUIRE(n);
    node = std::move(*n);
    REQUIRE_FALSE(node->await_settled(30s));
  }

  ~one_node() {
    node.reset();
    rt.reset();
  }

  /// Commits one event on each of `streams` through the writer, which wakes
  /// the fetches waiting for new events.
  void commit(const std::string& category, int streams) {
    write_batch b;
    for (int i = 0; i < streams; ++i) {
      append_request req;
      req.stream = {category, "s" + std::to_string(i)};
      req.events.push_back({category + ".ev", 1, 0, {}, {}, to_bytes("x")});
      b.appends.push_back(std::move(req));
    }
    caf::scoped_actor self{*sys};
    bool ok = false;
    self->request(rt->writer(), 10s, import_atom::value, b)
      .receive([&](batch_result&) { ok = true; }, [](caf::error&) {});
    REQUIRE(ok);
  }

  std::optional<subscription_progress> progress(const std::string& name) {
    for (auto& p : node->subscriptions())
      if (p.consumer == cluster::node::model_name(name))
        return p;
    return std::nullopt;
  }
};

} // namespace

TEST_CASE("a cluster projection's lag: held behind, then caught up, events "
          "of skipped categories included",
          "[cluster][progress]") {
  one_node n;
  std::promise<void> release;
  auto gate = release.get_future().share();
  auto seen_behind = std::make_shared<std::atomic<int>>(0);
  n.node->project("behind", subscription_filter::of_category("t.a"),
                  [gate, seen_behind](const recorded_event&, model_writer&) {
                    gate.wait();
                    ++*seen_behind;
                    return caf::error{};
                  });
  auto seen_caught = std::make_shared<std::atomic<int>>(0);
  n.node->project("caught", subscription_filter::of_category("t.a"),
                  [seen_caught](const recorded_event& ev, model_writer& m) {
                    m.put(ev.stream.id, "seen");
                    ++*seen_caught;
                    return caf::error{};
                  });
  n.commit("t.a", 10);
  n.commit("t.b", 5); // last: read past, never delivered
  REQUIRE(await([&] { return seen_caught->load() == 10; }));
  REQUIRE(await([&] {
    auto p = n.progress("caught");
    return p && p->started && p->lag_events == 0;
  }));
  // Held on its first batch: all 15 events are ahead of it ...
  REQUIRE(await([&] {
    auto p = n.progress("behind");
    return p && p->started && p->lag_events == 15;
  }));
  // ... and what is committed while it is stuck counts too.
  n.commit("t.b", 4);
  n.commit("t.a", 3);
  REQUIRE(await([&] { return n.progress("behind")->lag_events == 22; }));
  CHECK(n.progress("behind")->parked_events == 0);
  REQUIRE(await([&] {
    return seen_caught->load() == 13 && n.progress("caught")->lag_events == 0;
  }));
  release.set_value();
  REQUIRE(await([&] { return seen_behind->load() == 13; }));
  REQUIRE(await([&] { return n.progress("behind")->lag_events == 0; }));
}
