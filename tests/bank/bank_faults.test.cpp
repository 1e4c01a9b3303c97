// bank -- the bank under node faults, checked from the outside only: three
// bank-node processes over etcd, every partition on all three, clients
// crediting, withdrawing and transferring through every node while nodes
// are SIGKILLed and restarted on their data. A killed node's partitions fail
// over, so no request waits long for a definite answer. Afterwards, through
// the HTTP API alone: every acknowledged command's event is in its
// account's log exactly once (matched by the command id in the events'
// metadata) and no refused command's event is; every transfer is final,
// with exactly the steps its outcome implies; money is conserved with
// nothing in flight; and every read's revision and balance equal its log's.
#include "bank_cluster_harness.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using annals::testing::await;
using bank::testing::bank_cluster;
using bank::testing::bank_node;
using bank::testing::json;
using bank::testing::node_reply;

namespace {

constexpr int accounts = 10;
constexpr int64_t initial = 20'000;
/// Never opened: every transfer to it is refunded (compensated).
const std::string nobody = "fz";

std::string account_id(int i) {
  return "f" + std::to_string(i);
}

/// What the clients were told, definitely.
struct ledger {
  std::mutex mtx;
  /// command id -> (account, signed amount) of every acknowledged write.
  std::map<std::string, std::pair<std::string, int64_t>> acked;
  /// command id -> account of every refused (409) write.
  std::map<std::string, std::string> refused;
  std::vector<std::string> transfers; ///< acknowledged transfer ids
  std::atomic<int> acks{0};
  std::atomic<int> retries{0};
  /// The longest time one request took to get a definite answer (ms).
  std::atomic<int64_t> longest_ms{0};
  std::vector<std::string> problems;

  void problem(std::string what) {
    std::lock_guard guard{mtx};
    problems.push_back(std::move(what));
  }
};

/// Sends one request until it gets a definite answer, through the nodes in
/// turn: a connection failure, 503 or 504 is retried with the same command
/// id (the idempotency key), as a real client would. Gives up after 60 s.
node_reply until_definite(bank_cluster& c, std::size_t first,
                          const std::string& method, const std::string& target,
                          const json& body, ledger& log) {
  auto t0 = std::chrono::steady_clock::now();
  auto deadline = t0 + 60s;
  auto took = [&] {
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                std::chrono::steady_clock::now() - t0)
                .count();
    auto prev = log.longest_ms.load();
    while (ms > prev && !log.longest_ms.compare_exchange_weak(prev, ms)) {
    }
  };
  for (std::size_t k = first;; ++k) {
    auto r = c.nodes[k % 3].call(method, target, body);
    if (r.status != 0 && r.status != 503 && r.status != 504) {
      took();
      return r;
    }
    ++log.retries;
    if (std::chrono::steady_clock::now() > deadline)
      return r;
    // A client's pause between retries, not synchronisation.
    std::this_thread::sleep_for(20ms);
  }
}

/// Every event of account `id`, paged through `GET /accounts/{id}/events`.
json account_log(const bank_node& n, const std::string& id) {
  json all = json::array();
  uint64_t from = 1;
  for (;;) {
    auto r = n.call("GET",
                    "/accounts/" + id + "/events?from=" + std::to_string(from));
    REQUIRE(r.status == 200);
    auto& page = r.body["events"];
    if (page.empty())
      return all;
    for (auto& e : page)
      all.push_back(e);
    from = r.body["next"].get<uint64_t>();
  }
}

bool final_status(const std::string& s) {
  return s == "completed" || s == "failed" || s == "compensated";
}

} // namespace

TEST_CASE("bank under SIGKILLs: every acknowledged command once, every "
          "transfer final, money conserved, reads equal to their logs",
          "[faults]") {
  // Small snapshots, so that nodes recover accounts from snapshots too.
  // Every partition on all three nodes: a killed leader's partitions fail
  // over, so no request waits long for an answer.
  bank_cluster c{3, {"--annals.snapshot-every=16"}};
  ledger log;
  for (int i = 0; i < accounts; ++i) {
    auto id = account_id(i);
    REQUIRE(
      until_definite(
        c, i, "POST", "/accounts/" + id + "/open",
        {{"owner", id}, {"credit_limit", 0}, {"command_id", "open-" + id}}, log)
        .status
      == 200);
    REQUIRE(until_definite(c, i, "POST", "/accounts/" + id + "/credit",
                           {{"amount", initial}, {"command_id", "init-" + id}},
                           log)
              .status
            == 200);
  }
  std::atomic<bool> running{true};
  std::vector<std::thread> clients;
  // Four clients of credits and withdrawals, through every node.
  for (int t = 0; t < 4; ++t)
    clients.emplace_back([&, t] {
      std::mt19937 rng{Catch::rngSeed() + static_cast<unsigned>(t)};
      for (int i = 0; running; ++i) {
        auto id = account_id(static_cast<int>(rng() % accounts));
        bool credit = rng() % 2 == 0;
        auto amount = static_cast<int64_t>(1 + rng() % 5000);
        auto cid = "c" + std::to_string(t) + "-" + std::to_string(i);
        auto r = until_definite(c, rng() % 3, "POST",
                                "/accounts/" + id
                                  + (credit ? "/credit" : "/withdraw"),
                                {{"amount", amount}, {"command_id", cid}}, log);
        std::lock_guard guard{log.mtx};
        if (r.status == 200) {
          log.acked[cid] = {id, credit ? amount : -amount};
          ++log.acks;
        } else if (r.status == 409) {
          log.refused[cid] = id;
        } else {
          log.problems.push_back(cid + ": status " + std::to_string(r.status)
                                 + " " + r.body.dump());
        }
      }
    });
  // Two clients of transfers.
  for (int t = 0; t < 2; ++t)
    clients.emplace_back([&, t] {
      std::mt19937 rng{Catch::rngSeed() + 100 + static_cast<unsigned>(t)};
      for (int i = 0; running; ++i) {
        auto from = static_cast<int>(rng() % accounts);
        auto to
          = (from + 1 + static_cast<int>(rng() % (accounts - 1))) % accounts;
        auto tid = "x" + std::to_string(t) + "-" + std::to_string(i);
        json body = {{"id", tid},
                     {"from", account_id(from)},
                     {"to", rng() % 10 == 0 ? nobody : account_id(to)},
                     {"amount", static_cast<int64_t>(1 + rng() % 20000)}};
        auto r = until_definite(c, rng() % 3, "POST", "/transfers", body, log);
        std::lock_guard guard{log.mtx};
        if (r.status == 200) {
          log.transfers.push_back(tid);
          ++log.acks;
        } else {
          log.problems.push_back(tid + ": status " + std::to_string(r.status)
                                 + " " + r.body.dump());
        }
      }
    });
  // Six SIGKILLs, two per node, each once the clients made progress; the
  // victim restarts on its data 2 s later.
  constexpr int kills = 6;
  for (int k = 0; k < kills; ++k) {
    auto before = log.acks.load();
    REQUIRE(await([&] { return log.acks.load() >= before + 100; }, 60s));
    auto victim = static_cast<std::size_t>(k % 3);
    auto& n = c.nodes[victim];
    n.stop(SIGKILL);
    // The fault is held for 2 s, as a crashed machine stays down for a
    // while: the survivors' sagas meet its partitions' `unavailable`
    // meanwhile (a duration of the fault, not a synchronisation).
    std::this_thread::sleep_for(2s);
    n.start();
  }
  auto before = log.acks.load();
  REQUIRE(await([&] { return log.acks.load() >= before + 100; }, 60s));
  running = false;
  for (auto& t : clients)
    t.join();
  REQUIRE(await([&] { return c.settled(); }, 60s));
  {
    std::lock_guard guard{log.mtx};
    INFO("first problems: " << json(log.problems).dump().substr(0, 2000));
    REQUIRE(log.problems.empty());
  }
  WARN("faults: " << kills << " SIGKILLs, " << log.acked.size()
                  << " acknowledged writes, " << log.refused.size()
                  << " refused, " << log.transfers.size() << " transfers, "
                  << log.retries.load() << " client retries, longest wait "
                  << log.longest_ms.load() << " ms");
  // With three replicas a killed leader's partitions fail over within its
  // lease (2 s) or sooner: no request waited long for a definite answer.
  CHECK(log.longest_ms.load() < 10'000);

  // Every transfer reaches a final state within 60 s of the load's end
  // (one deadline for all of them).
  std::map<std::string, json> transfer_views;
  auto settle_started = std::chrono::steady_clock::now();
  auto all_final = await(
    [&] {
      for (const auto& tid : log.transfers) {
        if (transfer_views.count(tid) == 1)
          continue;
        auto r = c.nodes[0].call("GET", "/transfers/" + tid);
        if (r.status != 200 || !final_status(r.body.value("status", "")))
          return false;
        transfer_views[tid] = r.body;
      }
      return true;
    },
    60s);
  for (const auto& tid : log.transfers) {
    if (transfer_views.count(tid) == 1)
      continue;
    auto r = c.nodes[0].call("GET", "/transfers/" + tid);
    INFO("transfer " << tid << ": " << r.body.dump());
    CHECK((r.status == 200 && final_status(r.body.value("status", ""))));
  }
  REQUIRE(all_final);
  WARN("faults: every transfer final "
       << std::chrono::duration_cast<std::chrono::milliseconds>(
            std::chrono::steady_clock::now() - settle_started)
            .count()
       << " ms after the load stopped");

  // The logs, from the outside. Command ids of the transfer steps are
  // derived from the transfer id: <tid>/debit, /credit, /refund.
  std::map<std::string, int> seen; // command id -> events carrying it
  std::map<std::string, std::string> where;
  int64_t sum = 0;
  for (int i = 0; i < accounts; ++i) {
    auto id = account_id(i);
    auto events = account_log(c.nodes[static_cast<std::size_t>(i % 3)], id);
    REQUIRE(!events.empty());
    uint64_t rev = 0;
    int64_t last_balance = 0;
    for (auto& e : events) {
      CHECK(e["revision"].get<uint64_t>() == rev + 1);
      rev = e["revision"].get<uint64_t>();
      REQUIRE(e.contains("metadata"));
      auto cid = e["metadata"].value("command_id", std::string{});
      CHECK_FALSE(cid.empty());
      ++seen[cid];
      where[cid] = id;
      if (e["data"].contains("balance"))
        last_balance = e["data"]["balance"].get<int64_t>();
    }
    // Every read of the account, through every node: its revision and
    // balance are the log's.
    for (auto& n : c.nodes) {
      auto r = n.call("GET", "/accounts/" + id);
      REQUIRE(r.status == 200);
      CHECK(r.body["revision"].get<uint64_t>() == rev);
      CHECK(r.body["balance"].get<int64_t>() == last_balance);
    }
    sum += last_balance;
  }
  const auto logged = seen;
  int64_t expected = accounts * initial;
  for (const auto& [cid, what] : log.acked) {
    INFO("acknowledged " << cid);
    CHECK(seen[cid] == 1);
    CHECK(where[cid] == what.first);
    expected += what.second;
  }
  for (const auto& [cid, id] : log.refused) {
    INFO("refused " << cid);
    CHECK(seen.count(cid) == 0);
  }
  std::map<std::string, int> outcomes;
  for (const auto& [tid, v] : transfer_views) {
    INFO("transfer " << tid << ": " << v.dump());
    auto status = v["status"].get<std::string>();
    ++outcomes[status];
    auto from = v["from"].get<std::string>();
    auto to = v["to"].get<std::string>();
    auto once_on = [&](const std::string& step, const std::string& account) {
      return seen[tid + "/" + step] == 1 && where[tid + "/" + step] == account;
    };
    auto absent = [&](const std::string& step) {
      return seen.count(tid + "/" + step) == 0;
    };
    if (status == "completed") {
      CHECK(once_on("debit", from));
      CHECK(once_on("credit", to));
      CHECK(absent("refund"));
    } else if (status == "failed") {
      CHECK(absent("debit"));
      CHECK(absent("credit"));
    } else {
      CHECK(once_on("debit", from));
      CHECK(once_on("refund", from));
      CHECK(absent("credit"));
    }
  }
  // No event without a client's command behind it.
  for (const auto& [cid, n] : logged) {
    INFO("command id " << cid);
    CHECK(n == 1);
  }
  CHECK(sum == expected);
  WARN("faults: transfers completed " << outcomes["completed"] << ", failed "
                                      << outcomes["failed"] << ", compensated "
                                      << outcomes["compensated"]);
  // Nothing was parked: every failure the saga met was transient and
  // retried (an operator would see parked events here).
  for (auto& n : c.nodes) {
    auto r = n.call("GET", "/admin/parked", nullptr,
                    {{"Authorization",
                      std::string{"Bearer "} + bank::testing::operator_token}});
    REQUIRE(r.status == 200);
    CHECK(r.body["parked"].empty());
  }
  // The balance projections catch up with the accounts on every node.
  for (int i = 0; i < accounts; ++i) {
    auto id = account_id(i);
    auto want = c.nodes[0].call("GET", "/accounts/" + id).body["balance"];
    for (auto& n : c.nodes)
      CHECK(await(
        [&] {
          auto r = n.call("GET", "/balances/" + id);
          return r.status == 200 && r.body["balance"] == want;
        },
        30s));
  }
}
