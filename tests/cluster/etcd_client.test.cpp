// annals -- the etcd client (cluster/src/etcd) against real etcd 3.4
// members on loopback and against fake servers for the failure paths.
#include "etcd/etcd_errc.hpp"
#include "etcd/lease_keeper.hpp"
#include "etcd/watch.hpp"
#include "etcd_harness.hpp"
#include "run_command.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <mutex>

using namespace annals::cluster::etcd;
using annals::testing::await;
using annals::testing::etcd_cluster;
using annals::testing::fake_http_server;
using annals::testing::http_response;
using annals::testing::temp_dir;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

namespace {

client make_client(std::vector<std::string> eps,
                   std::chrono::milliseconds deadline = 1s) {
  client_config cfg;
  cfg.endpoints = std::move(eps);
  cfg.deadline = deadline;
  auto c = client::make(std::move(cfg));
  REQUIRE(c);
  return std::move(*c);
}

std::chrono::milliseconds since(steady::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(steady::now()
                                                               - t);
}

/// Events and the end of a watch, collected from its thread.
struct watch_log {
  std::mutex mtx;
  std::vector<watch_event> events;
  std::optional<caf::error> end;

  watch::events_handler on_events() {
    return [this](std::vector<watch_event> xs, int64_t) {
      std::lock_guard guard{mtx};
      for (auto& x : xs)
        events.push_back(std::move(x));
    };
  }

  watch::end_handler on_end() {
    return [this](caf::error err) {
      std::lock_guard guard{mtx};
      end = std::move(err);
    };
  }

  size_t size() {
    std::lock_guard guard{mtx};
    return events.size();
  }

  bool ended() {
    std::lock_guard guard{mtx};
    return end.has_value();
  }
};

} // namespace

TEST_CASE("etcd client: base64, prefix ends and bad configurations") {
  CHECK(prefix_end("a/") == "a0");
  CHECK(prefix_end(std::string{"a\xff", 2}) == "b");
  CHECK(prefix_end("") == std::string(1, '\0'));
  client_config none;
  CHECK(is(client::make(none).error(), etcd_errc::invalid_argument));
  for (auto bad :
       {"nohost", ":2379", "host:", "host:99999", "host:12x", "[::1:2379"}) {
    client_config cfg;
    cfg.endpoints = {bad};
    auto c = client::make(cfg);
    INFO(bad);
    REQUIRE(!c);
    CHECK(is(c.error(), etcd_errc::invalid_argument));
  }
  client_config tls;
  tls.endpoints = {"127.0.0.1:2379"};
  tls.tls = tls_files{"/nonexistent/ca.pem", "/nonexistent/c.pem",
                      "/nonexistent/c.key"};
  auto c = client::make(tls);
  REQUIRE(!c);
  CHECK(is(c.error(), etcd_errc::invalid_argument));
  CHECK(describe(c.error()).find("/nonexistent/ca.pem") != std::string::npos);
}

TEST_CASE("etcd client: put, get, prefix get and delete") {
  etcd_cluster etcd;
  auto c = etcd.make_client();
  auto p1 = c.put("/t/a", "1");
  REQUIRE(p1);
  CHECK(p1->revision > 1);
  auto g = c.get("/t/a");
  REQUIRE(g);
  REQUIRE(g->kvs.size() == 1);
  CHECK(g->kvs[0].key == "/t/a");
  CHECK(g->kvs[0].value == "1");
  CHECK(g->kvs[0].version == 1);
  CHECK(g->kvs[0].create_revision == p1->revision);
  CHECK(g->kvs[0].mod_revision == p1->revision);
  CHECK(g->kvs[0].lease == 0);
  CHECK(g->revision == p1->revision);
  // Binary keys and values survive base64; an empty value stays empty.
  std::string bin{"\0\xff\x01 x", 5};
  REQUIRE(c.put("/t/b", bin));
  auto p3 = c.put("/t/a", "");
  REQUIRE(p3);
  auto again = c.get("/t/a", consistency::serializable);
  REQUIRE(again);
  REQUIRE(again->kvs.size() == 1);
  CHECK(again->kvs[0].value.empty());
  CHECK(again->kvs[0].version == 2);
  CHECK(again->kvs[0].create_revision == p1->revision);
  CHECK(again->kvs[0].mod_revision == p3->revision);
  REQUIRE(c.put("/u", "outside"));
  auto all = c.get_prefix("/t/");
  REQUIRE(all);
  REQUIRE(all->kvs.size() == 2);
  CHECK(all->count == 2);
  CHECK(all->kvs[0].key == "/t/a");
  CHECK(all->kvs[1].key == "/t/b");
  CHECK(all->kvs[1].value == bin);
  auto everything = c.get_prefix("");
  REQUIRE(everything);
  CHECK(everything->kvs.size() == 3);
  auto missing = c.get("/t/none");
  REQUIRE(missing);
  CHECK(missing->kvs.empty());
  auto d = c.erase("/t/a");
  REQUIRE(d);
  CHECK(d->deleted == 1);
  CHECK(c.get("/t/a")->kvs.empty());
  CHECK(c.erase("/t/a")->deleted == 0);
  auto dp = c.erase_prefix("/t/");
  REQUIRE(dp);
  CHECK(dp->deleted == 1);
  CHECK(c.get_prefix("/t/")->kvs.empty());
  CHECK(c.get("/u")->kvs.size() == 1);
  // etcd's own refusal: an empty key.
  auto bad = c.get("");
  REQUIRE(!bad);
  CHECK(is(bad.error(), etcd_errc::rejected));
  CHECK(grpc_code(bad.error()) == 3);
  CHECK(describe(bad.error()).find("key is not provided") != std::string::npos);
}

TEST_CASE("etcd client: txn compare-and-swap") {
  etcd_cluster etcd;
  auto c = etcd.make_client();
  // Create-if-absent: the first wins, the second sees the winner.
  txn_request create;
  create.compares = {compare::absent("/ctl")};
  create.success = {request_op::put("/ctl", "n1")};
  create.failure = {request_op::range("/ctl")};
  auto first = c.txn(create);
  REQUIRE(first);
  CHECK(first->succeeded);
  REQUIRE(first->responses.size() == 1);
  CHECK(first->responses[0].type == request_op::kind::put);
  create.success = {request_op::put("/ctl", "n2")};
  auto second = c.txn(create);
  REQUIRE(second);
  CHECK(!second->succeeded);
  REQUIRE(second->responses.size() == 1);
  REQUIRE(second->responses[0].range.kvs.size() == 1);
  CHECK(second->responses[0].range.kvs[0].value == "n1");
  CHECK(c.get("/ctl")->kvs[0].value == "n1");
  // CAS on the mod revision: a stale revision fails, the current one wins.
  REQUIRE(c.put("/map", "v1"));
  auto map = c.get("/map");
  REQUIRE(map);
  auto rev = map->kvs.at(0).mod_revision;
  txn_request cas;
  cas.compares = {compare::mod_revision("/map", compare::op::equal, rev),
                  compare::value_of("/ctl", compare::op::equal, "n1")};
  cas.success = {request_op::put("/map", "v2"), request_op::erase("/old"),
                 request_op::range("/map")};
  auto won = c.txn(cas);
  REQUIRE(won);
  CHECK(won->succeeded);
  REQUIRE(won->responses.size() == 3);
  CHECK(won->responses[1].type == request_op::kind::erase);
  CHECK(won->responses[1].deleted == 0);
  CHECK(won->responses[2].range.kvs.at(0).value == "v2");
  auto lost = c.txn(cas); // same, now stale revision
  REQUIRE(lost);
  CHECK(!lost->succeeded);
  CHECK(lost->responses.empty());
  CHECK(c.get("/map")->kvs.at(0).value == "v2");
  // Version and value compares.
  txn_request by_version;
  by_version.compares
    = {compare::version("/map", compare::op::greater, 1),
       compare::value_of("/ctl", compare::op::not_equal, "n2")};
  by_version.success = {request_op::put("/seen", "yes")};
  auto v = c.txn(by_version);
  REQUIRE(v);
  CHECK(v->succeeded);
  CHECK(c.get("/seen")->kvs.size() == 1);
}

TEST_CASE("etcd client: a key on a lease goes when the lease is revoked or "
          "expires") {
  etcd_cluster etcd;
  auto c = etcd.make_client();
  auto lease = c.grant(1);
  REQUIRE(lease);
  CHECK(lease->ttl == 1);
  REQUIRE(c.put("/nodes/n1", "up", lease->id));
  auto g = c.get("/nodes/n1");
  REQUIRE(g->kvs.size() == 1);
  CHECK(g->kvs[0].lease == lease->id);
  auto status = c.time_to_live(lease->id);
  REQUIRE(status);
  CHECK(status->granted_ttl == 1);
  REQUIRE(!c.revoke(lease->id));
  CHECK(c.get("/nodes/n1")->kvs.empty());
  CHECK(is(c.revoke(lease->id), etcd_errc::lease_not_found));
  CHECK(is(c.keep_alive(lease->id).error(), etcd_errc::lease_not_found));
  CHECK(is(c.time_to_live(lease->id).error(), etcd_errc::lease_not_found));
  auto late = c.put("/nodes/n1", "up", lease->id);
  REQUIRE(!late);
  CHECK(is(late.error(), etcd_errc::lease_not_found));
  // Expiry: nobody keeps the second lease alive.
  auto expiring = c.grant(1);
  REQUIRE(expiring);
  REQUIRE(c.put("/nodes/n2", "up", expiring->id));
  auto t0 = steady::now();
  CHECK(await([&] { return c.get("/nodes/n2")->kvs.empty(); }, 5s));
  CHECK(since(t0) >= 500ms);
  CHECK(is(c.keep_alive(expiring->id).error(), etcd_errc::lease_not_found));
}

TEST_CASE("etcd client: keep-alives hold a lease past its TTL, the lease "
          "keeper reports revocation and etcd's loss") {
  etcd_cluster etcd;
  auto c = etcd.make_client(500ms);
  // One round trip: the full TTL again.
  auto lease = c.grant(1);
  REQUIRE(lease);
  auto ttl = c.keep_alive(lease->id);
  REQUIRE(ttl);
  CHECK(*ttl == 1);
  // The keeper: holds its lease, reports a revocation by someone else.
  std::mutex mtx;
  std::vector<caf::error> losses;
  auto on_lost = [&](caf::error err) {
    std::lock_guard guard{mtx};
    losses.push_back(std::move(err));
  };
  auto lost_count = [&] {
    std::lock_guard guard{mtx};
    return losses.size();
  };
  // (TTL 2 s, so that a loaded machine does not make it miss one.)
  auto keeper = lease_keeper::start(c, 2s, on_lost);
  REQUIRE(keeper);
  REQUIRE(c.put("/kept", "x", (*keeper)->id()));
  auto t1 = steady::now();
  // Past its TTL the key is still there (nobody else refreshes it).
  CHECK(!await([&] { return c.get("/kept")->kvs.empty(); }, 2500ms));
  CHECK(since(t1) >= 2500ms);
  CHECK((*keeper)->alive());
  CHECK(lost_count() == 0);
  REQUIRE(!c.revoke((*keeper)->id()));
  REQUIRE(await([&] { return lost_count() == 1; }, 2s));
  CHECK(!(*keeper)->alive());
  CHECK(is(losses[0], etcd_errc::lease_not_found));
  CHECK(!(*keeper)->stop()); // lost: nothing to revoke
  // A keeper whose etcd dies reports the loss within about its TTL.
  auto second = lease_keeper::start(c, 1s, on_lost);
  REQUIRE(second);
  etcd.kill(0);
  auto t2 = steady::now();
  REQUIRE(await([&] { return lost_count() == 2; }, 3s));
  CHECK(since(t2) <= 2s);
  CHECK((is(losses[1], etcd_errc::unavailable)
         || is(losses[1], etcd_errc::timeout)));
  CHECK(!(*second)->alive());
}

TEST_CASE("etcd client: stopping a lease keeper revokes its lease") {
  etcd_cluster etcd;
  auto c = etcd.make_client();
  auto keeper = lease_keeper::start(c, 2s, [](caf::error) {});
  REQUIRE(keeper);
  auto id = (*keeper)->id();
  CHECK((*keeper)->ttl() == 2);
  REQUIRE(c.put("/n", "x", id));
  CHECK(!(*keeper)->stop());
  CHECK(!(*keeper)->alive());
  CHECK(c.get("/n")->kvs.empty());
  CHECK(is(c.time_to_live(id).error(), etcd_errc::lease_not_found));
}

TEST_CASE("etcd watch: PUT and DELETE in order from a start revision") {
  etcd_cluster etcd;
  auto c = etcd.make_client();
  auto r1 = c.put("/w/a", "1");
  REQUIRE(r1);
  REQUIRE(c.put("/w/b", "2"));
  REQUIRE(c.put("/x", "not watched"));
  auto r4 = c.erase("/w/a");
  REQUIRE(r4);
  watch_log log;
  auto w = watch::start(c, {"/w/", true, r1->revision}, log.on_events(),
                        log.on_end());
  REQUIRE(w);
  CHECK((*w)->created_revision() == r4->revision);
  REQUIRE(await([&] { return log.size() == 3; }, 5s));
  auto r5 = c.put("/w/c", "3");
  REQUIRE(r5);
  REQUIRE(await([&] { return log.size() == 4; }, 5s));
  std::lock_guard guard{log.mtx};
  auto& ev = log.events;
  CHECK(ev[0].type == watch_event::kind::put);
  CHECK(ev[0].kv.key == "/w/a");
  CHECK(ev[0].kv.value == "1");
  CHECK(ev[0].kv.mod_revision == r1->revision);
  CHECK(ev[1].type == watch_event::kind::put);
  CHECK(ev[1].kv.key == "/w/b");
  CHECK(ev[2].type == watch_event::kind::erase);
  CHECK(ev[2].kv.key == "/w/a");
  CHECK(ev[2].kv.mod_revision == r4->revision);
  CHECK(ev[3].kv.key == "/w/c");
  CHECK(ev[3].kv.mod_revision == r5->revision);
  for (size_t i = 1; i < ev.size(); ++i)
    CHECK(ev[i - 1].kv.mod_revision < ev[i].kv.mod_revision);
  CHECK(!log.end);
}

TEST_CASE("etcd watch: ends when its member dies, and on a compacted start "
          "revision") {
  etcd_cluster etcd;
  auto c = etcd.make_client();
  auto r1 = c.put("/k", "1");
  REQUIRE(r1);
  REQUIRE(c.put("/k", "2"));
  auto r3 = c.put("/k", "3");
  REQUIRE(r3);
  auto compact = annals::testing::run_command(
    "/usr/bin/etcdctl --endpoints=" + etcd.endpoint(0) + " compact "
    + std::to_string(r3->revision) + " 2>&1");
  REQUIRE(compact.exit_code == 0);
  watch_log old;
  auto w1 = watch::start(c, {"/k", false, r1->revision}, old.on_events(),
                         old.on_end());
  if (w1) { // etcd confirms, then cancels
    REQUIRE(await([&] { return old.ended(); }, 5s));
    std::lock_guard guard{old.mtx};
    CHECK(is(*old.end, etcd_errc::compacted));
    CHECK(compact_revision(*old.end) == r3->revision);
    CHECK(old.events.empty());
  } else {
    CHECK(is(w1.error(), etcd_errc::compacted));
  }
  // A live watch ends when its member is killed.
  watch_log live;
  auto w2 = watch::start(c, {"/k", false, 0}, live.on_events(), live.on_end());
  REQUIRE(w2);
  REQUIRE(c.put("/k", "4"));
  REQUIRE(await([&] { return live.size() == 1; }, 5s));
  etcd.kill(0);
  auto t0 = steady::now();
  REQUIRE(await([&] { return live.ended(); }, 5s));
  CHECK(since(t0) < 1s);
  std::lock_guard guard{live.mtx};
  CHECK(is(*live.end, etcd_errc::unavailable));
}

TEST_CASE("etcd watch: stop ends a silent stream at once") {
  etcd_cluster etcd;
  auto c = etcd.make_client();
  watch_log log;
  auto w = watch::start(c, {"/quiet", true, 0}, log.on_events(), log.on_end());
  REQUIRE(w);
  auto t0 = steady::now();
  (*w)->stop();
  CHECK(since(t0) < 500ms);
  CHECK(!log.ended()); // no end callback for a stop
  (*w)->stop();        // idempotent
}

TEST_CASE("etcd client: every endpoint down is unavailable within the "
          "deadline") {
  auto c
    = make_client({"127.0.0.1:" + std::to_string(annals::testing::free_port()),
                   "127.0.0.1:" + std::to_string(annals::testing::free_port())},
                  300ms);
  auto t0 = steady::now();
  auto g = c.get("/x");
  REQUIRE(!g);
  CHECK(is(g.error(), etcd_errc::unavailable));
  CHECK(since(t0) < 300ms);
  auto p = c.put("/x", "1");
  REQUIRE(!p);
  CHECK(is(p.error(), etcd_errc::unavailable));
  auto w = watch::start(
    c, {"/x", false, 0}, [](auto, auto) {}, [](caf::error) {});
  REQUIRE(!w);
  CHECK(is(w.error(), etcd_errc::unavailable));
  auto k = lease_keeper::start(c, 1s, [](caf::error) {});
  REQUIRE(!k);
  CHECK(is(k.error(), etcd_errc::unavailable));
}

TEST_CASE("etcd client: an endpoint that accepts and never answers times "
          "out within the deadline") {
  fake_http_server hung{""};
  auto c = make_client({hung.endpoint()}, 300ms);
  for (int i = 0; i < 2; ++i) {
    auto t0 = steady::now();
    auto r = i == 0 ? c.get("/x").error() : c.put("/x", "1").error();
    auto took = since(t0);
    CHECK(is(r, etcd_errc::timeout));
    CHECK(took >= 290ms);
    CHECK(took < 600ms);
  }
  auto t0 = steady::now();
  auto w = watch::start(
    c, {"/x", false, 0}, [](auto, auto) {}, [](caf::error) {});
  REQUIRE(!w);
  CHECK(is(w.error(), etcd_errc::timeout));
  CHECK(since(t0) < 600ms);
  CHECK(hung.accepted() == 3);
  // Before a live endpoint, a hung one costs a read its share of the
  // deadline; a write sent to it times out (outcome unknown) and the next
  // call starts at the next endpoint.
  fake_http_server ok{http_response(200, R"({"header":{"revision":"9"}})")};
  auto both = make_client({hung.endpoint(), ok.endpoint()}, 400ms);
  auto t1 = steady::now();
  auto r = both.get("/x");
  REQUIRE(r);
  CHECK(r->revision == 9);
  CHECK(since(t1) >= 190ms);
  CHECK(since(t1) < 400ms);
  CHECK(both.current_endpoint() == ok.endpoint());
  auto again = both.with_deadline(300ms);
  REQUIRE(again.get("/x")); // straight to the live one
  CHECK(hung.accepted() == 4);
  auto to_hung = make_client({hung.endpoint(), ok.endpoint()}, 300ms);
  auto w1 = to_hung.put("/x", "1");
  REQUIRE(!w1);
  CHECK(is(w1.error(), etcd_errc::timeout));
  CHECK(describe(w1.error()).find("outcome unknown") != std::string::npos);
  CHECK(to_hung.current_endpoint() == ok.endpoint());
  auto w2 = to_hung.put("/x", "1");
  REQUIRE(w2);
  CHECK(w2->revision == 9);
}

TEST_CASE("etcd client: garbage, truncated JSON and error bodies are "
          "errors") {
  SECTION("not HTTP at all") {
    fake_http_server srv{"SSH-2.0-OpenSSH_9.2\r\n\r\nnonsense"};
    auto r = make_client({srv.endpoint()}).get("/x");
    REQUIRE(!r);
    CHECK(is(r.error(), etcd_errc::malformed_response));
  }
  SECTION("truncated JSON") {
    fake_http_server srv{
      http_response(200, R"({"header":{"revision":"3"},"kvs":[{"key":"Zm9v")")};
    auto c = make_client({srv.endpoint()});
    auto r = c.get("/x");
    REQUIRE(!r);
    CHECK(is(r.error(), etcd_errc::malformed_response));
    auto p = c.put("/x", "1");
    REQUIRE(!p);
    CHECK(is(p.error(), etcd_errc::malformed_response));
  }
  SECTION("a body shorter than its Content-Length") {
    auto full = http_response(200, R"({"header":{"revision":"3"}})");
    fake_http_server srv{full.substr(0, full.size() - 5)};
    auto r = make_client({srv.endpoint()}).get("/x");
    REQUIRE(!r);
    CHECK(is(r.error(), etcd_errc::unavailable));
  }
  SECTION("JSON of the wrong shape") {
    for (auto body : {R"([1, 2])", R"({"header":{"revision":"x3"}})",
                      R"({"kvs":[{"key":"!!!"}]})", R"({"kvs":{"key":"Zm9v"}})",
                      R"({"kvs":[{"key":"Zm9v","version":true}]})"}) {
      fake_http_server srv{http_response(200, body)};
      auto r = make_client({srv.endpoint()}).get("/x");
      INFO(body);
      REQUIRE(!r);
      CHECK(is(r.error(), etcd_errc::malformed_response));
    }
  }
  SECTION("a gateway error body") {
    fake_http_server srv{http_response(
      400, R"({"error":"etcdserver: too many operations in txn request",)"
           R"("message":"etcdserver: too many operations in txn request",)"
           R"("code":3})")};
    auto r = make_client({srv.endpoint()}).txn({});
    REQUIRE(!r);
    CHECK(is(r.error(), etcd_errc::rejected));
    CHECK(grpc_code(r.error()) == 3);
    CHECK(describe(r.error()).find("too many operations") != std::string::npos);
  }
  SECTION("an error page that is not JSON") {
    fake_http_server srv{"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 5\r\n"
                         "Connection: close\r\n\r\n<html"};
    auto r = make_client({srv.endpoint()}).grant(2);
    REQUIRE(!r);
    CHECK(is(r.error(), etcd_errc::malformed_response));
  }
  SECTION("a member without a leader is unavailable, and a read moves on") {
    fake_http_server srv{http_response(
      503, R"({"error":"etcdserver: no leader","message":"etcdserver: no )"
           R"(leader","code":14})")};
    fake_http_server ok{http_response(200, R"({"header":{"revision":"7"}})")};
    auto c = make_client({srv.endpoint(), ok.endpoint()});
    auto r = c.get("/x");
    REQUIRE(r);
    CHECK(r->revision == 7);
    CHECK(c.current_endpoint() == ok.endpoint());
    auto lone = make_client({srv.endpoint()}).get("/x");
    REQUIRE(!lone);
    CHECK(is(lone.error(), etcd_errc::unavailable));
  }
  SECTION("a connection closed before the answer") {
    fake_http_server srv{"", true};
    auto c = make_client({srv.endpoint()});
    auto r = c.keep_alive(42);
    REQUIRE(!r);
    CHECK(is(r.error(), etcd_errc::unavailable));
    auto w = watch::start(
      c, {"/x", false, 0}, [](auto, auto) {}, [](caf::error) {});
    REQUIRE(!w);
    CHECK(is(w.error(), etcd_errc::unavailable));
  }
  SECTION("a watch stream that sends garbage") {
    fake_http_server srv{"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                         "Transfer-Encoding: chunked\r\n\r\n"
                         "5\r\n{\"res\r\n0\r\n\r\n"};
    auto w = watch::start(
      make_client({srv.endpoint()}), {"/x", false, 0}, [](auto, auto) {},
      [](caf::error) {});
    REQUIRE(!w);
    CHECK(is(w.error(), etcd_errc::malformed_response));
  }
}

TEST_CASE("etcd client: a dead first member is skipped, the client stays "
          "with the member that answered",
          "[etcd3]") {
  etcd_cluster etcd{3};
  etcd.kill(0);
  auto c = etcd.make_client();
  REQUIRE(c.current_endpoint() == etcd.endpoint(0));
  // Killing a leader makes the survivors elect a new one first (writes
  // meanwhile are `unavailable` or, sent before the loss was noticed, time
  // out with their outcome unknown).
  caf::expected<write_result> p = write_result{};
  REQUIRE(await(
    [&] {
      p = c.put("/f", "1");
      return static_cast<bool>(p);
    },
    5s));
  CHECK(c.current_endpoint() != etcd.endpoint(0));
  auto g = c.get("/f");
  REQUIRE(g);
  CHECK(g->kvs.at(0).value == "1");
  // A watch on the member that answered, which then dies: the stream ends;
  // re-read and re-watch through the survivors.
  auto watched = c.current_endpoint();
  watch_log log;
  auto w = watch::start(c, {"/f", false, p->revision}, log.on_events(),
                        log.on_end());
  REQUIRE(w);
  REQUIRE(await([&] { return log.size() == 1; }, 5s));
  // And a watch on the member that survives.
  auto survivor = watched == etcd.endpoint(1) ? 2 : 1;
  auto on_survivor = etcd.make_client(1s, {etcd.endpoint(survivor)});
  watch_log quorum_log;
  auto w2 = watch::start(on_survivor, {"/f", false, 0}, quorum_log.on_events(),
                         quorum_log.on_end());
  REQUIRE(w2);
  etcd.kill(watched == etcd.endpoint(1) ? 1 : 2);
  auto t_kill = steady::now();
  REQUIRE(await([&] { return log.ended(); }, 5s));
  // The survivor lost its quorum, so its leader: etcd ends the stream.
  REQUIRE(await([&] { return quorum_log.ended(); }, 8s));
  WARN("the survivor's watch ended " << since(t_kill).count()
                                     << " ms after the quorum was lost");
  {
    std::lock_guard guard{quorum_log.mtx};
    CHECK(is(*quorum_log.end, etcd_errc::unavailable));
    CHECK(describe(*quorum_log.end).find("no leader") != std::string::npos);
  }
  // One member of three left: no quorum. Once it notices, reads and writes
  // are `unavailable` at once ("no leader"); serializable reads are still
  // answered by the survivor.
  REQUIRE(await(
    [&] {
      auto lin = c.get("/f");
      return !lin && is(lin.error(), etcd_errc::unavailable);
    },
    5s));
  auto t0 = steady::now();
  auto lin = c.get("/f");
  REQUIRE(!lin);
  CHECK(is(lin.error(), etcd_errc::unavailable));
  CHECK(describe(lin.error()).find("no leader") != std::string::npos);
  auto put = c.put("/f", "2");
  REQUIRE(!put);
  CHECK(is(put.error(), etcd_errc::unavailable));
  CHECK(since(t0) < 300ms);
  auto ser = c.get("/f", consistency::serializable);
  REQUIRE(ser);
  CHECK(ser->kvs.at(0).value == "1");
}

TEST_CASE("etcd client: a lease keeper holds its lease while the member it "
          "talks to dies",
          "[etcd3]") {
  etcd_cluster etcd{3};
  auto c = etcd.make_client(500ms);
  std::atomic<int> losses{0};
  auto keeper = lease_keeper::start(c, 2s, [&](caf::error) { ++losses; });
  REQUIRE(keeper);
  REQUIRE(c.put("/nodes/n1", "up", (*keeper)->id()));
  auto used = c.current_endpoint();
  size_t victim = 0;
  while (etcd.endpoint(victim) != used)
    ++victim;
  etcd.kill(victim);
  // The keeper moves on to the survivors (after an election if the victim
  // led) and the lease outlives its TTL.
  REQUIRE(await([&] { return c.current_endpoint() != used; }, 3s));
  auto t0 = steady::now();
  CHECK(!await([&] { return losses.load() > 0; }, 2200ms));
  CHECK(since(t0) >= 2200ms);
  CHECK((*keeper)->alive());
  auto g = c.get("/nodes/n1");
  REQUIRE(g);
  CHECK(g->kvs.size() == 1);
}

TEST_CASE("etcd client: mutual TLS with the cluster CA", "[etcd-tls]") {
  temp_dir certs;
  annals::testing::test_ca ca{certs.path(), "etcdca"};
  auto server = ca.issue("etcd-server");
  auto node = ca.issue("node1");
  tls_files client_tls{ca.cafile(), node.certificate, node.key};
  etcd_cluster etcd{1, server, client_tls};
  auto c = etcd.make_client();
  REQUIRE(c.put("/tls", "yes"));
  CHECK(c.get("/tls")->kvs.at(0).value == "yes");
  watch_log log;
  auto w = watch::start(c, {"/tls", false, 0}, log.on_events(), log.on_end());
  REQUIRE(w);
  REQUIRE(c.put("/tls", "again"));
  REQUIRE(await([&] { return log.size() == 1; }, 5s));
  // Without a client certificate etcd refuses the handshake.
  client_config no_cert;
  no_cert.endpoints = etcd.endpoints();
  no_cert.tls = tls_files{ca.cafile(), "", ""};
  auto anonymous = client::make(no_cert);
  REQUIRE(anonymous);
  auto r = anonymous->get("/tls");
  REQUIRE(!r);
  CHECK(is(r.error(), etcd_errc::unavailable));
  // A certificate of another CA is refused too, and so is plain HTTP.
  annals::testing::test_ca other{certs.path(), "otherca"};
  auto stranger = other.issue("stranger");
  client_config foreign;
  foreign.endpoints = etcd.endpoints();
  foreign.tls = tls_files{ca.cafile(), stranger.certificate, stranger.key};
  auto f = client::make(foreign);
  REQUIRE(f);
  CHECK(!f->get("/tls"));
  auto plain = make_client(etcd.endpoints());
  auto pr = plain.get("/tls");
  REQUIRE(!pr);
  CHECK(!is(pr.error(), etcd_errc::timeout));
  // A server certificate of another CA is refused by the client.
  client_config wrong_ca;
  wrong_ca.endpoints = etcd.endpoints();
  wrong_ca.tls = tls_files{other.cafile(), node.certificate, node.key};
  auto wc = client::make(wrong_ca);
  REQUIRE(wc);
  auto wr = wc->get("/tls");
  REQUIRE(!wr);
  CHECK(is(wr.error(), etcd_errc::unavailable));
}
