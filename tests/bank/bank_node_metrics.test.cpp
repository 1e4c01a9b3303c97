// bank -- /metrics of a real bank-node after transfers: the balance
// projection's lag is 0 once every projected balance is right (transfer
// events trail in the journal and once made it look ~1,000 events behind
// for good), per-subscription lag and parked series, requests by route
// template, process metrics, and the whole scrape through promtool.
#include "await.hpp"
#include "bank/http_client.hpp"
#include "child_process.hpp"
#include "ports.hpp"
#include "promtool.hpp"
#include "temp_dir.hpp"

#include <catch2/catch.hpp>

#include <ctime>
#include <nlohmann/json.hpp>
#include <string>

using json = nlohmann::json;
using annals::testing::await;
using annals::testing::free_port;
using bank::testing::promtool_check;
using bank::testing::sample;
using namespace std::chrono_literals;

namespace {

struct one_bank_node {
  annals::testing::temp_dir dir;
  uint16_t http_port = free_port();
  std::unique_ptr<annals::testing::child_process> proc;

  one_bank_node() {
    proc = std::make_unique<annals::testing::child_process>(
      std::vector<std::string>{
        BANK_NODE_PATH, "--cluster.name=n1",
        "--cluster.port=" + std::to_string(free_port()),
        "--annals.data-dir=" + dir.path(), "--annals.partitions=64",
        "--bank.http-port=" + std::to_string(http_port)});
    REQUIRE(proc->await_line("READY", 40s));
  }

  ~one_bank_node() {
    proc->kill(SIGTERM);
    proc->wait();
  }

  std::pair<int, std::string> call(const std::string& method,
                                   const std::string& target,
                                   const std::string& body = {}) {
    auto r
      = bank::http_request("127.0.0.1", http_port, method, target, body, {});
    if (!r)
      return {0, {}};
    return {r->status, r->body};
  }

  json get(const std::string& target) {
    auto [status, body] = call("GET", target);
    auto doc = json::parse(body, nullptr, false);
    return status == 200 && !doc.is_discarded() ? doc : json::object();
  }

  std::string metrics() {
    auto [status, body] = call("GET", "/metrics");
    REQUIRE(status == 200);
    return body;
  }
};

} // namespace

TEST_CASE("a bank-node's /metrics after transfers: caught-up projections "
          "show no lag, requests by route, process metrics, promtool passes",
          "[bank][metrics][system]") {
  one_bank_node n;
  REQUIRE(n.call("POST", "/accounts/acct-alpha/open", R"({"owner":"A"})").first
          == 200);
  REQUIRE(n.call("POST", "/accounts/acct-beta/open", R"({"owner":"B"})").first
          == 200);
  REQUIRE(
    n.call("POST", "/accounts/acct-alpha/credit", R"({"amount":1000})").first
    == 200);
  constexpr int transfers = 6;
  for (int i = 0; i < transfers; ++i)
    REQUIRE(n.call("POST", "/transfers",
                   R"({"id":"xfer-)" + std::to_string(i)
                     + R"(","from":"acct-alpha","to":"acct-beta","amount":10})")
              .first
            == 200);
  for (int i = 0; i < transfers; ++i)
    REQUIRE(await([&] {
      return n.get("/transfers/xfer-" + std::to_string(i)).value("status", "")
             == "completed";
    }));
  // Every projected balance equals its account's balance ...
  REQUIRE(await([&] {
    return n.get("/balances/acct-alpha").value("balance", -1) == 940
           && n.get("/balances/acct-beta").value("balance", -1) == 60;
  }));
  // ... and the metric agrees (the transfers' own events, which the balance
  // projection skips, are the last in their partitions).
  std::string text;
  REQUIRE(await([&] {
    text = n.metrics();
    return sample(text, "annals_projection_lag_events{node=\"n1\"}") == 0.0;
  }));
  INFO(text);
  CHECK(sample(text, "annals_subscription_lag_events{node=\"n1\",consumer="
                     "\"cluster:bank.balances\",scope=\"cluster\"}")
        == 0.0);
  CHECK(sample(text, "annals_subscription_parked_events{node=\"n1\",consumer="
                     "\"cluster:bank.balances\",scope=\"cluster\"}")
        == 0.0);
  REQUIRE(await([&] {
    return sample(n.metrics(), "annals_subscription_lag_events{node=\"n1\","
                               "consumer=\"bank.transfer-saga\",scope="
                               "\"local\"}")
           == 0.0;
  }));
  CHECK(sample(text, "annals_subscription_parked_events{node=\"n1\",consumer="
                     "\"bank.transfer-saga\",scope=\"local\"}")
        == 0.0);
  // Requests by route template; the ids stay out of the labels.
  CHECK(sample(text, "annals_http_requests_total{route=\"/transfers\","
                     "method=\"POST\",code=\"200\"}")
        == transfers);
  CHECK(sample(text, "annals_http_requests_total{route=\"/accounts/{id}/"
                     "open\",method=\"POST\",code=\"200\"}")
        == 2);
  CHECK(sample(text, "annals_http_request_duration_seconds_count{route=\"/"
                     "transfers\",method=\"POST\"}")
        == transfers);
  CHECK(text.find("acct-alpha") == std::string::npos);
  CHECK(text.find("xfer-") == std::string::npos);
  // Process metrics of the node process.
  CHECK(sample(text, "process_resident_memory_bytes").value_or(0) > 1 << 20);
  CHECK(sample(text, "process_open_fds").value_or(0) >= 3);
  auto start = sample(text, "process_start_time_seconds").value_or(0);
  auto now = static_cast<double>(std::time(nullptr));
  CHECK(start > now - 600);
  CHECK(start <= now + 1);
  if (auto res = promtool_check(text)) {
    INFO(res->output);
    CHECK(res->exit_code == 0);
  }
}
