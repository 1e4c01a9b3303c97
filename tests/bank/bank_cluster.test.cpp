// bank -- the HTTP API end to end against a real 3-node cluster on loopback
// (over etcd, one replica per partition: replication is bank_faults'
// subject): every route and error case through every node, idempotent
// retries, and money conservation under concurrent transfers and a node
// restart.
#include "annals/persistence/stream.hpp"

#include "bank_cluster_harness.hpp"

#include <catch2/catch.hpp>

#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <netinet/in.h>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

using json = nlohmann::json;
using annals::testing::await;
using annals::testing::free_port;
using namespace std::chrono_literals;

namespace {

using namespace bank::testing;
using reply = node_reply;

int64_t balance(const bank_node& n, const std::string& id) {
  auto r = n.call("GET", "/accounts/" + id);
  REQUIRE(r.status == 200);
  return r.body.value("balance", int64_t{0});
}

} // namespace

TEST_CASE("bank on 3 nodes: every route and error through every node") {
  bank_cluster c{1};
  auto& n1 = c.nodes[0];
  auto& n2 = c.nodes[1];
  auto& n3 = c.nodes[2];
  CHECK(n1.call("POST", "/accounts/alice/open",
                {{"owner", "Alice"}, {"credit_limit", 0}})
          .status
        == 200);
  CHECK(n2.call("POST", "/accounts/bob/open",
                {{"owner", "Bob"}, {"credit_limit", 1000}})
          .status
        == 200);
  // Writes through any node, strongly consistent reads through any other.
  auto cr = n3.call("POST", "/accounts/alice/credit", {{"amount", 500}});
  REQUIRE(cr.status == 200);
  CHECK(cr.body["revision"] == 2);
  for (auto* n : {&n1, &n2, &n3})
    CHECK(balance(*n, "alice") == 500);
  // 400: malformed, wrong types, bad amounts; 404: unknown account/route;
  // 405; 409: rejection; 413: oversized.
  CHECK(n1.call("POST", "/accounts/alice/credit", json("x")).status == 400);
  CHECK(n1.call("POST", "/accounts/alice/credit", {{"amount", "ten"}}).status
        == 400);
  CHECK(n1.call("POST", "/accounts/alice/credit", {{"amount", 1.5}}).status
        == 400);
  CHECK(n2.call("POST", "/accounts/alice/credit", {{"amount", -5}}).status
        == 400);
  CHECK(n2.call("POST", "/accounts/%FF%FE/open", {{"owner", "X"}}).status
        == 400);
  auto dup = bank::http_request("127.0.0.1", n2.http_port, "POST",
                                "/accounts/alice/credit",
                                R"({"amount":1,"amount":100000})");
  REQUIRE(dup);
  CHECK(dup->status == 400);
  auto unknown = n2.call("POST", "/accounts/nobody/credit", {{"amount", 5}});
  CHECK(unknown.status == 404);
  CHECK(n3.call("GET", "/accounts/nobody").status == 404);
  CHECK(n3.call("GET", "/nowhere").status == 404);
  CHECK(n3.call("DELETE", "/accounts/alice").status == 405);
  auto over = n1.call("POST", "/accounts/alice/withdraw", {{"amount", 501}});
  CHECK(over.status == 409);
  CHECK(over.body.value("error", std::string{}) == "over_credit_limit");
  CHECK(n1.call("POST", "/accounts/alice/open", {{"owner", "Again"}}).status
        == 409);
  json big = {{"owner", std::string(2 << 20, 'x')}};
  CHECK(n1.call("POST", "/accounts/zed/open", big).status == 413);
  // Idempotent retry through another node: applied once.
  auto k1 = n1.call("POST", "/accounts/bob/credit", {{"amount", 70}},
                    {{"Idempotency-Key", "pay-1"}});
  auto k2 = n3.call("POST", "/accounts/bob/credit", {{"amount", 70}},
                    {{"Idempotency-Key", "pay-1"}});
  REQUIRE(k1.status == 200);
  REQUIRE(k2.status == 200);
  CHECK_FALSE(k1.body.value("duplicate", true));
  CHECK(k2.body.value("duplicate", false));
  CHECK(balance(n2, "bob") == 70);
  // Events, projection, transfer, cluster, metrics, health.
  auto evs = n2.call("GET", "/accounts/alice/events?from=1");
  REQUIRE(evs.status == 200);
  CHECK(evs.body["events"].size() == 2);
  CHECK(n1.call("GET", "/accounts/nobody/events").status == 404);
  CHECK(n1.call("GET", "/accounts/nobody/events?from=3").status == 404);
  auto past = n1.call("GET", "/accounts/alice/events?from=3");
  CHECK(past.status == 200);
  CHECK(past.body["events"].empty());
  CHECK(
    n3.call("POST", "/transfers",
            {{"id", "t1"}, {"from", "alice"}, {"to", "bob"}, {"amount", 200}})
      .status
    == 200);
  CHECK(await([&] {
    return n1.call("GET", "/transfers/t1").body.value("status", std::string{})
           == "completed";
  }));
  CHECK(balance(n1, "alice") == 300);
  CHECK(balance(n1, "bob") == 270);
  // Every event carries its metadata, the same through every node (one of
  // them owns the stream, the others read it from there): the command id
  // (a transfer step's is derived from the transfer id), partition,
  // position, the owner's epoch and the timestamp.
  auto cl0 = n1.call("GET", "/cluster").body["partitions"];
  auto find_by_command = [](const json& events, const std::string& cid) {
    for (auto& e : events)
      if (e["metadata"]["command_id"] == cid)
        return e;
    return json{};
  };
  for (auto* n : {&n1, &n2, &n3}) {
    auto a = n->call("GET", "/accounts/alice/events").body["events"];
    auto b = n->call("GET", "/accounts/bob/events").body["events"];
    REQUIRE(a.size() == 3);
    auto pa
      = annals::partition_of(annals::stream_id{"bank.account", "alice"}, 64);
    uint64_t last_pos = 0;
    for (auto& e : a) {
      INFO(e.dump());
      auto& md = e["metadata"];
      CHECK(md["partition"] == pa);
      CHECK(md["epoch"] == cl0[pa]["epoch"]);
      CHECK(md["timestamp_ns"] == e["timestamp_ns"]);
      CHECK(md.value("position", uint64_t{0}) > last_pos);
      last_pos = md.value("position", uint64_t{0});
    }
    CHECK(a[0]["metadata"]["command_id"].is_null()); // opened without one
    auto debit = find_by_command(a, "t1/debit");
    CHECK(debit.value("type", std::string{}) == "bank.account_debited");
    CHECK(debit["data"].value("transfer_id", std::string{}) == "t1");
    auto credit = find_by_command(b, "t1/credit");
    CHECK(credit.value("type", std::string{}) == "bank.account_credited");
    CHECK(credit.value("revision", 0) == 3);
    auto pay = find_by_command(b, "pay-1");
    CHECK(pay.value("revision", 0) == 2);
    CHECK(
      pay["metadata"]["partition"]
      == annals::partition_of(annals::stream_id{"bank.account", "bob"}, 64));
  }
  CHECK(n2.call("GET", "/transfers/none").status == 404);
  for (auto* n : {&n1, &n2, &n3})
    CHECK(await([&] {
      return num(n->call("GET", "/balances/bob").body, "balance", -1) == 270;
    }));
  auto cl = n2.call("GET", "/cluster");
  CHECK(cl.body["members"].size() == 3);
  CHECK(cl.body["partitions"].size() == 64);
  auto m = bank::http_request("127.0.0.1", n1.http_port, "GET", "/metrics");
  REQUIRE(m);
  CHECK(m->body.find("annals_commit_latency_seconds_bucket")
        != std::string::npos);
  CHECK(n3.call("GET", "/healthz").status == 200);
  // Operator routes need the token.
  std::vector<std::pair<std::string, std::string>> op{
    {"Authorization", std::string{"Bearer "} + operator_token}};
  CHECK(n2.call("POST", "/cluster/leave").status == 401);
  CHECK(n2.call("POST", "/cluster/leave", nullptr,
                {{"Authorization", "Bearer wrong-token-of-some-length"}})
          .status
        == 403);
  auto parked = n1.call("GET", "/admin/parked", nullptr, op);
  CHECK(parked.status == 200);
  CHECK(parked.body["parked"].is_array());
  auto replayed = n1.call("POST", "/admin/parked/replay", nullptr, op);
  CHECK(replayed.status == 200);
  CHECK(replayed.body["handled"].is_number_unsigned());
  CHECK(replayed.body["remaining"].is_number_unsigned());
  // Admin: n2 leaves; its partitions move, it stays a gateway.
  auto left = n2.call("POST", "/cluster/leave", nullptr, op);
  REQUIRE(left.status == 200);
  CHECK(left.body.value("left", false));
  CHECK(await(
    [&] { return n1.call("GET", "/cluster").body["members"].size() == 2; }));
  CHECK(n2.call("POST", "/accounts/bob/credit", {{"amount", 30}}).status
        == 200);
  CHECK(balance(n3, "bob") == 300);
  CHECK(balance(n1, "alice") == 300);
  // 503: the owner of an account is down.
  std::string on_n3;
  auto parts = c.nodes[0].call("GET", "/cluster").body["partitions"];
  for (int i = 0; i < 200 && on_n3.empty(); ++i) {
    auto id = "k" + std::to_string(i);
    auto p = annals::partition_of(annals::stream_id{"bank.account", id}, 64);
    if (parts[p].value("owner", std::string{}) == "n3")
      on_n3 = id;
  }
  REQUIRE_FALSE(on_n3.empty());
  n3.stop(SIGKILL);
  REQUIRE(await([&] {
    return n1.call("POST", "/accounts/" + on_n3 + "/open", {{"owner", "K"}})
             .status
           == 503;
  }));
}

TEST_CASE("bank on 3 nodes: money is conserved under concurrent transfers and "
          "a node restart") {
  bank_cluster c{1};
  constexpr int accounts = 12;
  constexpr int64_t initial = 10000;
  auto id = [](int i) { return "a" + std::to_string(i); };
  for (int i = 0; i < accounts; ++i) {
    auto& n = c.nodes[static_cast<std::size_t>(i % 3)];
    REQUIRE(n.call("POST", "/accounts/" + id(i) + "/open",
                   {{"owner", "o"}, {"credit_limit", 0}})
              .status
            == 200);
    REQUIRE(n.call("POST", "/accounts/" + id(i) + "/credit",
                   {{"amount", initial}, {"command_id", "init-" + id(i)}})
              .status
            == 200);
  }
  // Three clients start transfers through different nodes; one node is
  // restarted in the middle. Requests refused (503) or unknown (504) are
  // retried with the same transfer id.
  std::atomic<int> started{0};
  std::vector<std::string> transfer_ids;
  for (int k = 0; k < 60; ++k)
    transfer_ids.push_back("t" + std::to_string(k));
  auto worker = [&](int t) {
    for (int k = t; k < 60; k += 3) {
      json body = {{"id", transfer_ids[static_cast<std::size_t>(k)]},
                   {"from", id(k % accounts)},
                   {"to", id((k * 7 + 1) % accounts)},
                   {"amount", 100 + k}};
      for (int attempt = 0; attempt < 400; ++attempt) {
        auto r = c.nodes[static_cast<std::size_t>(t)].call("POST", "/transfers",
                                                           body);
        if (r.status == 200 || r.status == 409) {
          ++started;
          break;
        }
        std::this_thread::sleep_for(10ms);
      }
    }
  };
  std::thread w0{worker, 0}, w2{worker, 2};
  REQUIRE(await([&] { return started >= 10; }));
  c.nodes[1].stop(SIGKILL);
  c.nodes[1].start();
  std::thread w1{worker, 1};
  w0.join();
  w1.join();
  w2.join();
  CHECK(started == 60);
  REQUIRE(await([&] { return c.settled(); }, 60s));
  // Every transfer reaches a final state; then the sum of balances is what
  // it was (money in flight has landed).
  for (auto& tid : transfer_ids)
    CHECK(await([&] {
      auto s = c.nodes[0]
                 .call("GET", "/transfers/" + tid)
                 .body.value("status", std::string{});
      return s == "completed" || s == "failed" || s == "compensated";
    }));
  int64_t sum = 0;
  for (int i = 0; i < accounts; ++i)
    sum += balance(c.nodes[2], id(i));
  CHECK(sum == accounts * initial);
}

TEST_CASE("bank-node refuses bad HTTP security options before it starts") {
  annals::testing::temp_dir root;
  auto run = [&](const std::string& option) {
    auto err_file = root.sub("stderr");
    annals::testing::child_process p{{BANK_NODE_PATH, "--cluster.name=n1",
                                      "--annals.data-dir=" + root.sub("data"),
                                      "--bank.http-port=0", option},
                                     false,
                                     err_file};
    auto status = p.wait_for(20s);
    std::ifstream in{err_file};
    std::string err{std::istreambuf_iterator<char>{in}, {}};
    return std::make_pair(status, err);
  };
  auto [missing, missing_err]
    = run("--bank.operator-token-file=" + root.sub("no-such-token"));
  REQUIRE(missing);
  CHECK(WIFEXITED(*missing));
  CHECK(WEXITSTATUS(*missing) == 2);
  CHECK(missing_err.find("no-such-token") != std::string::npos);
  auto [mode, mode_err] = run("--bank.tls-client-auth=sometimes");
  REQUIRE(mode);
  CHECK(WEXITSTATUS(*mode) == 2);
  CHECK(mode_err.find("tls-client-auth") != std::string::npos);
  auto [half, half_err] = run("--bank.tls-cert=" + root.sub("cert.pem"));
  REQUIRE(half);
  CHECK(WEXITSTATUS(*half) == 2);
  CHECK(half_err.find("certificate and a key") != std::string::npos);
  // Nothing was started: no journal was created.
  CHECK_FALSE(std::filesystem::exists(root.sub("data")));
}
