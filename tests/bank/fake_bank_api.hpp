// bank -- an in-memory bank::api for the HTTP tests: the account rules in
// brief, plus ids that misbehave on purpose:
//   "down"      -> annals::errc::unavailable
//   "slow"      -> annals::errc::outcome_unknown, answered late from another
//                  thread (what the real backend says after its timeout)
//   "conflict"  -> annals::errc::wrong_expected_revision
//   "jconflict" -> journal_errc::wrong_expected_revision
//   "broken"    -> annals::errc::not_persisted
// Every account lives in partition `fake_partition`, written in epoch
// `fake_epoch`; positions count the events of all accounts from 1.
#pragma once

#include "annals/errc.hpp"
#include "annals/persistence/errc.hpp"

#include "bank/api.hpp"

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace bank::testing {

class fake_bank_api : public api {
public:
  static constexpr uint32_t fake_partition = 5;
  static constexpr uint64_t fake_epoch = 2;

  ~fake_bank_api() override {
    release_late_answers();
    for (auto& t : late_)
      t.join();
  }

  /// Command ids the backend received, in order (empty = none given).
  std::vector<std::string> command_ids() const {
    std::lock_guard guard{mtx_};
    return command_ids_;
  }

  /// Late answers wait until `release_late_answers` (or destruction).
  void hold_late_answers() {
    std::lock_guard guard{mtx_};
    hold_ = true;
  }

  void release_late_answers() {
    std::lock_guard guard{mtx_};
    hold_ = false;
    late_cv_.notify_all();
  }

  /// Blocks until the backend holds `n` late ("slow") answers.
  void await_late_answers(size_t n) {
    std::unique_lock guard{mtx_};
    late_cv_.wait(guard, [&] { return late_.size() >= n; });
  }

  void set_healthy(bool x) {
    std::lock_guard guard{mtx_};
    healthy_ = x;
  }

  /// Parks `p`; a replay handles the events whose reason is not "poison".
  void park(parked_line p) {
    std::lock_guard guard{mtx_};
    parked_.push_back(std::move(p));
  }

  /// How many times the cluster was left.
  int leaves() const {
    std::lock_guard guard{mtx_};
    return leaves_;
  }

  // -- api --------------------------------------------------------------------

  void open_account(const std::string& id, const std::string& owner,
                    int64_t credit_limit, const std::string& command_id,
                    completion<annals::ack> done) override {
    if (misbehave(id, done))
      return;
    std::lock_guard guard{mtx_};
    command_ids_.push_back(command_id);
    if (auto dup = duplicate(id, command_id)) {
      done(*dup);
      return;
    }
    if (credit_limit < 0) { // the aggregate's own rule
      done(caf::make_error(bank_errc::negative_limit));
      return;
    }
    auto& acc = accounts_[id];
    if (acc.view.open) {
      done(caf::make_error(bank_errc::already_open));
      return;
    }
    acc.view.open = true;
    acc.view.owner = owner;
    acc.view.credit_limit = credit_limit;
    done(record(id, command_id, acc, "bank.account_opened",
                R"({"owner":")" + owner + R"(","credit_limit":)"
                  + std::to_string(credit_limit) + "}"));
  }

  void credit(const std::string& id, int64_t amount,
              const std::string& command_id,
              completion<annals::ack> done) override {
    if (amount <= 0) {
      done(caf::make_error(bank_errc::non_positive_amount));
      return;
    }
    move_money(id, amount, command_id, std::move(done));
  }

  void withdraw(const std::string& id, int64_t amount,
                const std::string& command_id,
                completion<annals::ack> done) override {
    if (amount <= 0) {
      done(caf::make_error(bank_errc::non_positive_amount));
      return;
    }
    move_money(id, -amount, command_id, std::move(done));
  }

  void get_account(const std::string& id,
                   completion<account_state> done) override {
    if (misbehave(id, done))
      return;
    std::lock_guard guard{mtx_};
    auto i = accounts_.find(id);
    if (i == accounts_.end() || !i->second.view.open) {
      done(caf::make_error(bank_errc::not_open));
      return;
    }
    done(account_state{i->second.view, i->second.events.size()});
  }

  void account_events(const std::string& id, uint64_t from_revision,
                      uint32_t max,
                      completion<std::vector<event_line>> done) override {
    if (misbehave(id, done))
      return;
    std::lock_guard guard{mtx_};
    auto i = accounts_.find(id);
    if (i == accounts_.end() || i->second.events.empty()) {
      done(caf::make_error(bank_errc::not_open)); // no stream: unknown
      return;
    }
    std::vector<event_line> out;
    for (auto& e : i->second.events)
      if (e.revision >= from_revision && out.size() < max)
        out.push_back(e);
    done(std::move(out));
  }

  void projected_balance(const std::string& id,
                         completion<projected_balance_view> done) override {
    if (misbehave(id, done))
      return;
    std::lock_guard guard{mtx_};
    auto i = accounts_.find(id);
    if (i == accounts_.end()) {
      done(projected_balance_view{false, 0, position_});
      return;
    }
    done(projected_balance_view{true, i->second.view.balance, position_});
  }

  void start_transfer(const std::string& transfer_id, const std::string& from,
                      const std::string& to, int64_t amount,
                      completion<annals::ack> done) override {
    if (misbehave(transfer_id, done))
      return;
    std::lock_guard guard{mtx_};
    if (from == to) {
      done(caf::make_error(bank_errc::same_account));
      return;
    }
    auto& t = transfers_[transfer_id];
    if (t.status != 0) {
      done(annals::ack{1, 1, 1, true});
      return;
    }
    t = transfer_view{
      static_cast<uint8_t>(transfer_status::started), from, to, amount, {}};
    done(annals::ack{1, 1, 1, false});
  }

  void get_transfer(const std::string& transfer_id,
                    completion<transfer_view> done) override {
    if (misbehave(transfer_id, done))
      return;
    std::lock_guard guard{mtx_};
    auto i = transfers_.find(transfer_id);
    done(i == transfers_.end() ? transfer_view{} : i->second);
  }

  void cluster_info(completion<std::string> done) override {
    done(std::string{R"({"nodes":[{"id":"n1","up":true}]})"});
  }

  void metrics_text(completion<std::string> done) override {
    done(std::string{"# TYPE bank_commands_total counter\n"
                     "bank_commands_total 7\n"});
  }

  void healthy(completion<bool> done) override {
    std::lock_guard guard{mtx_};
    done(healthy_);
  }

  void leave(completion<bool> done) override {
    std::lock_guard guard{mtx_};
    ++leaves_;
    done(true);
  }

  void parked_events(completion<std::vector<parked_line>> done) override {
    std::lock_guard guard{mtx_};
    done(parked_);
  }

  void replay_parked(completion<replay_outcome> done) override {
    std::lock_guard guard{mtx_};
    replay_outcome out;
    std::vector<parked_line> left;
    for (auto& p : parked_) {
      if (p.reason == "poison")
        left.push_back(p);
      else
        ++out.handled;
    }
    parked_ = std::move(left);
    out.remaining = parked_.size();
    done(out);
  }

private:
  struct account_rec {
    account_view view;
    std::vector<event_line> events;
  };

  template <class T>
  bool misbehave(const std::string& id, completion<T>& done) {
    using annals::errc;
    if (id == "down") {
      done(annals::make_error(errc::unavailable, "owner of down is away"));
    } else if (id == "conflict") {
      done(annals::make_error(errc::wrong_expected_revision));
    } else if (id == "jconflict") {
      done(annals::make_conflict_error("stream bank.account/jconflict", 4));
    } else if (id == "broken") {
      done(annals::make_error(errc::not_persisted, "disk on fire"));
    } else if (id == "slow") {
      std::lock_guard guard{mtx_};
      late_.emplace_back([this, done = std::move(done)] {
        {
          std::unique_lock held{mtx_};
          late_cv_.wait(held, [this] { return !hold_; });
        }
        std::this_thread::sleep_for(std::chrono::milliseconds{20});
        done(annals::make_error(errc::outcome_unknown, "no reply in time"));
      });
      late_cv_.notify_all();
    } else {
      return false;
    }
    return true;
  }

  void move_money(const std::string& id, int64_t delta,
                  const std::string& command_id, completion<annals::ack> done) {
    if (misbehave(id, done))
      return;
    std::lock_guard guard{mtx_};
    command_ids_.push_back(command_id);
    if (auto dup = duplicate(id, command_id)) {
      done(*dup);
      return;
    }
    auto i = accounts_.find(id);
    if (i == accounts_.end() || !i->second.view.open) {
      done(caf::make_error(bank_errc::not_open));
      return;
    }
    auto& acc = i->second;
    if (delta < 0 && acc.view.balance + delta < -acc.view.credit_limit) {
      done(caf::make_error(bank_errc::over_credit_limit,
                           "balance " + std::to_string(acc.view.balance)));
      return;
    }
    acc.view.balance += delta;
    auto type = delta > 0 ? "bank.account_credited" : "bank.account_debited";
    auto amount = delta > 0 ? delta : -delta;
    done(record(id, command_id, acc, type,
                R"({"amount":)" + std::to_string(amount) + R"(,"balance":)"
                  + std::to_string(acc.view.balance) + "}"));
  }

  std::optional<annals::ack> duplicate(const std::string& id,
                                       const std::string& command_id) {
    if (command_id.empty())
      return std::nullopt;
    auto i = acks_.find({id, command_id});
    if (i == acks_.end())
      return std::nullopt;
    auto dup = i->second;
    dup.duplicate = true;
    return dup;
  }

  annals::ack record(const std::string& id, const std::string& command_id,
                     account_rec& acc, std::string type, std::string data) {
    auto rev = acc.events.size() + 1;
    ++position_;
    event_line line;
    line.revision = rev;
    line.type = std::move(type);
    line.data_json = std::move(data);
    line.timestamp_ns = 1'700'000'000'000'000'000 + int64_t(position_);
    line.meta.command_id = command_id;
    line.meta.epoch = fake_epoch;
    line.partition = fake_partition;
    line.position = position_;
    acc.events.push_back(std::move(line));
    annals::ack a{rev, rev, 1, false};
    if (!command_id.empty())
      acks_[{id, command_id}] = a;
    return a;
  }

  mutable std::mutex mtx_;
  std::condition_variable late_cv_;
  std::map<std::string, account_rec> accounts_;
  std::map<std::string, transfer_view> transfers_;
  std::map<std::pair<std::string, std::string>, annals::ack> acks_;
  std::vector<std::string> command_ids_;
  std::vector<std::thread> late_;
  std::vector<parked_line> parked_;
  int leaves_ = 0;
  uint64_t position_ = 0;
  bool healthy_ = true;
  bool hold_ = false;
};

} // namespace bank::testing
