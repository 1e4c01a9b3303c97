// annals -- tests: a node without etcd runs alone. It serves every
// partition at the epoch its journal holds, refuses the removed `seeds`
// option and a directory an earlier multi-node cluster wrote, and has no
// cluster to leave.
#include "annals/cluster/node.hpp"
#include "annals/errc.hpp"
#include "annals/render.hpp"

#include "node_actor.hpp"
#include "sample_account.hpp"
#include "temp_dir.hpp"

#include <caf/binary_serializer.hpp>
#include <catch2/catch.hpp>

using namespace annals;

namespace {

struct node_config_for_tests : cluster::config {
  node_config_for_tests() {
    set("scheduler.max-threads", 2);
    add_message_types<caf::id_block::sample>();
  }
};

/// The membership view earlier versions stored (the layout the node reads
/// to refuse an old multi-node cluster's directory).
struct old_view {
  uint64_t version = 0;
  std::vector<cluster::member> members;
  std::vector<cluster::member> previous;
  std::vector<uint64_t> epochs;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, old_view& x) {
  return f(x.version, x.members, x.previous, x.epochs);
}

std::string encode(old_view v) {
  std::vector<char> buf;
  caf::binary_serializer sink{nullptr, buf};
  REQUIRE_FALSE(sink(v));
  return {buf.begin(), buf.end()};
}

struct standalone {
  annals::testing::temp_dir dir;
  node_config_for_tests conf;
  caf::actor_system sys{conf};
  std::unique_ptr<runtime> rt;

  standalone() {
    runtime_config rc;
    rc.data_dir = dir.path();
    rc.journal.partitions = 8;
    rc.journal.sync = durability::unsafe_no_sync;
    auto r = runtime::start(sys, rc);
    REQUIRE(r);
    rt = std::move(*r);
  }

  cluster::node_config node_cfg() {
    cluster::node_config nc;
    nc.name = "solo";
    return nc;
  }

  void store_view(old_view v) {
    write_batch wb;
    wb.models.push_back({cluster::detail::view_model, cluster::detail::view_key,
                         encode(std::move(v)), false});
    REQUIRE(rt->store().commit(wb));
  }
};

} // namespace

TEST_CASE("standalone node: serves every partition at its journal's epoch") {
  standalone s;
  write_batch wb;
  wb.fences.push_back({3, 4}); // written by an earlier owner
  REQUIRE(s.rt->store().commit(wb));
  auto n = cluster::node::start(s.sys, *s.rt, s.node_cfg());
  REQUIRE(n);
  CHECK_FALSE((*n)->await_settled(std::chrono::seconds{5}));
  auto st = (*n)->status();
  REQUIRE(st);
  CHECK(st->settled);
  CHECK(st->active == 8);
  CHECK(st->inbound == 0);
  REQUIRE(st->current.members.size() == 1);
  CHECK(st->current.members[0].name == "solo");
  CHECK(st->current.members[0].port == (*n)->port());
  CHECK(st->current.epochs == std::vector<uint64_t>{1, 1, 1, 4, 1, 1, 1, 1});
  CHECK_FALSE((*n)->replicated());
  auto accounts = (*n)->host<sample::account>();
  for (int i = 0; i < 16; ++i) {
    auto ack = accounts.ask("acc-" + std::to_string(i), sample::deposit{5, ""});
    INFO(i << ": " << (ack ? "" : render(ack.error())));
    REQUIRE(ack);
  }
  // The events carry each partition's epoch (4 where the fence was).
  bool saw_fenced = false;
  for (int i = 0; i < 16; ++i) {
    stream_id sid{"sample.account", "acc-" + std::to_string(i)};
    auto p = partition_of(sid, 8);
    REQUIRE_FALSE(s.rt->store().scan_stream(sid, 1, [&](const event_view& ev) {
      CHECK(ev.epoch == (p == 3 ? 4u : 1u));
      saw_fenced = saw_fenced || p == 3;
      return true;
    }));
  }
  CHECK(saw_fenced);
  auto left = (*n)->leave(std::chrono::seconds{1});
  CHECK(left == errc::invalid_command);
  (*n)->stop();
}

TEST_CASE("standalone node: the removed seeds option is refused, naming "
          "etcd") {
  standalone s;
  auto nc = s.node_cfg();
  nc.seeds = {"127.0.0.1:7000"};
  auto n = cluster::node::start(s.sys, *s.rt, nc);
  REQUIRE_FALSE(n);
  CHECK(n.error() == errc::invalid_command);
  CHECK(render(n.error()).find("--cluster.etcd") != std::string::npos);
}

TEST_CASE("standalone node: an old one-node directory starts, an old "
          "multi-node cluster's is refused, a damaged view is reported") {
  SECTION("one member: served") {
    standalone s;
    s.store_view(
      {1, {{"solo", "127.0.0.1", 7000}}, {}, {1, 1, 1, 1, 1, 1, 1, 1}});
    auto n = cluster::node::start(s.sys, *s.rt, s.node_cfg());
    REQUIRE(n);
    CHECK_FALSE((*n)->await_settled(std::chrono::seconds{5}));
    (*n)->stop();
  }
  SECTION("three members: refused") {
    standalone s;
    s.store_view({3,
                  {{"a", "127.0.0.1", 7000},
                   {"b", "127.0.0.1", 7001},
                   {"solo", "127.0.0.1", 7002}},
                  {},
                  std::vector<uint64_t>(8, 2)});
    auto n = cluster::node::start(s.sys, *s.rt, s.node_cfg());
    REQUIRE_FALSE(n);
    CHECK(n.error() == errc::invalid_command);
    CHECK(render(n.error()).find("3-node cluster") != std::string::npos);
  }
  SECTION("damaged: reported") {
    standalone s;
    write_batch wb;
    wb.models.push_back({cluster::detail::view_model, cluster::detail::view_key,
                         std::string{"\x05\xff"}, false});
    REQUIRE(s.rt->store().commit(wb));
    auto n = cluster::node::start(s.sys, *s.rt, s.node_cfg());
    REQUIRE_FALSE(n);
    CHECK(n.error() == errc::malformed_payload);
  }
}
