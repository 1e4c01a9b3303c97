// bank-embedded -- the bank embedded in one process (no cluster, no HTTP).
//
// Usage: bank-embedded [--data=DIR]
// Opens the bank on an LMDB journal, then narrates: accounts opened,
// credits and withdrawals, a rejected overdraft, a transfer, a transfer that
// is compensated, a credit-limit alert, the balance projection catching up,
// and a restart of the runtime with nothing lost.
#include "bank/services.hpp"

#include <caf/actor_system.hpp>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>

using namespace std::chrono_literals;

namespace {

void say(const std::string& line) {
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);
}

std::string cents(int64_t c) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%s%lld.%02lld", c < 0 ? "-" : "",
                static_cast<long long>((c < 0 ? -c : c) / 100),
                static_cast<long long>((c < 0 ? -c : c) % 100));
  return buf;
}

/// Waits until `pred` holds (polling; a demo, not a test).
template <class F>
bool wait_for(F pred, std::chrono::milliseconds limit = 10s) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline)
      return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

bank::transfer_status status_of(const bank::services& s,
                                const std::string& id) {
  auto v = s.transfers.ask(id, bank::get_transfer{});
  return v ? static_cast<bank::transfer_status>(v->status)
           : bank::transfer_status::none;
}

int run(const std::string& dir, bool first) {
  annals::config conf;
  conf.add_message_types<caf::id_block::bank>();
  conf.set("scheduler.max-threads", 2);
  caf::actor_system sys{conf};
  annals::runtime_config rc;
  rc.data_dir = dir;
  auto rt = annals::runtime::start(sys, rc);
  if (!rt) {
    say("cannot start: " + annals::render(rt.error()));
    return 1;
  }
  auto svc = bank::start(**rt);
  auto& accounts = svc.accounts;
  auto balance = [&](const std::string& id) {
    return accounts.ask(id, bank::get_account{})->balance;
  };
  if (!first) {
    say("\n== after the restart: state comes back from the journal");
    for (auto id : {"alice", "bob", "carol"})
      say("  " + std::string{id} + ": balance " + cents(balance(id)));
    auto t = svc.transfers.ask("t-1", bank::get_transfer{});
    say(
      "  transfer t-1: "
      + std::string{to_string(static_cast<bank::transfer_status>(t->status))});
    auto again = accounts.ask("alice", bank::credit{1000, ""},
                              annals::command_options{"deposit-1", {}, {}, {}});
    say("  retrying command deposit-1: "
        + std::string{again && again->duplicate
                        ? "recognised, not applied twice"
                        : "UNEXPECTED"});
    return 0;
  }
  say("== opening accounts (balances in dollars.cents; credit limits allow "
      "overdrafts)");
  for (auto [id, owner, limit] :
       {std::tuple{"alice", "Alice", 0}, std::tuple{"bob", "Bob", 50000},
        std::tuple{"carol", "Carol", 10000}}) {
    auto r = accounts.ask(id, bank::open_account{owner, limit});
    say("  open " + std::string{id} + " (credit limit " + cents(limit) + "): "
        + (r ? "ok, revision " + std::to_string(r->revision)
             : annals::render(r.error())));
  }
  say("\n== credits and withdrawals (each acknowledged only once durable)");
  annals::command_options dep1{"deposit-1", {}, {}, {}};
  auto r1 = accounts.ask("alice", bank::credit{100000, ""}, dep1);
  say(
    "  credit alice 1000.00: "
    + (r1 ? "balance " + cents(balance("alice")) : annals::render(r1.error())));
  auto r2 = accounts.ask("alice", bank::withdraw{30000, ""});
  say(
    "  withdraw alice 300.00: "
    + (r2 ? "balance " + cents(balance("alice")) : annals::render(r2.error())));
  auto r3 = accounts.ask("alice", bank::withdraw{100000, ""});
  say("  withdraw alice 1000.00: "
      + (r3 ? std::string{"UNEXPECTED: accepted"}
            : "rejected: " + annals::render(r3.error())));
  say("\n== a transfer runs as a saga driven by subscriptions");
  auto t1
    = svc.transfers.ask("t-1", bank::start_transfer{"alice", "bob", 20000});
  say("  transfer t-1 alice -> bob 200.00: "
      + (t1 ? std::string{"started"} : annals::render(t1.error())));
  wait_for(
    [&] { return status_of(svc, "t-1") == bank::transfer_status::completed; });
  say("  t-1 is " + std::string{to_string(status_of(svc, "t-1"))} + "; alice "
      + cents(balance("alice")) + ", bob " + cents(balance("bob")));
  auto t2
    = svc.transfers.ask("t-2", bank::start_transfer{"bob", "nobody", 5000});
  say("  transfer t-2 bob -> nobody 50.00 (no such account): "
      + (t2 ? std::string{"started"} : annals::render(t2.error())));
  wait_for([&] {
    return status_of(svc, "t-2") == bank::transfer_status::compensated;
  });
  auto t2v = svc.transfers.ask("t-2", bank::get_transfer{});
  say("  t-2 is " + std::string{to_string(status_of(svc, "t-2"))} + " ("
      + t2v->reason + "); bob " + cents(balance("bob")));
  say("\n== the credit-limit monitor subscribes to account events");
  auto r4 = accounts.ask("bob", bank::withdraw{65000, ""});
  say("  withdraw bob 650.00 (limit 500.00, alert above 80% used): "
      + (r4 ? "balance " + cents(balance("bob")) : annals::render(r4.error())));
  wait_for(
    [&] { return bank::credit_alert((*rt)->store(), "bob").has_value(); });
  say("  alert: " + bank::credit_alert((*rt)->store(), "bob").value_or("none"));
  say("\n== the balance projection catches up (eventually consistent)");
  wait_for([&] {
    for (auto id : {"alice", "bob", "carol"})
      if (bank::projected_balance((*rt)->store(), id) != balance(id))
        return false;
    return true;
  });
  for (auto id : {"alice", "bob", "carol"})
    say("  " + std::string{id} + ": aggregate " + cents(balance(id))
        + ", projection "
        + cents(bank::projected_balance((*rt)->store(), id).value_or(0)));
  int64_t total = balance("alice") + balance("bob") + balance("carol");
  say("  money in accounts: " + cents(total)
      + " (1000.00 deposited - 300.00 - 650.00 withdrawn = 50.00)");
  say("\n== stopping the runtime");
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  std::string dir;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--data=", 0) == 0)
      dir = a.substr(7);
  }
  bool temp = dir.empty();
  if (temp)
    dir = (std::filesystem::temp_directory_path()
           / ("bank-embedded-" + std::to_string(::getpid())))
            .string();
  std::filesystem::remove_all(dir);
  auto rc = run(dir, true);
  if (rc == 0)
    rc = run(dir, false);
  if (temp)
    std::filesystem::remove_all(dir);
  return rc;
}
