// annals -- the account aggregate the runtime benchmarks drive
// (runtime_bench, scaling_bench): one deciding command, one query, a
// snapshottable state.
#pragma once

#include "annals/runtime.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace bench {

struct deposit {
  int64_t cents = 0;
  std::string memo;
};
struct get_balance {};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, deposit& x) {
  return f(caf::meta::type_name("bench.deposit"), x.cents, x.memo);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, get_balance&) {
  return f(caf::meta::type_name("bench.get_balance"));
}

struct deposited {
  static constexpr std::string_view type_name = "bench.deposited";
  int64_t cents = 0;
  std::string memo;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, deposited& x) {
  return f(caf::meta::type_name("bench.deposited"), x.cents, x.memo);
}

/// An account: one deciding command, one query, a snapshottable state.
class account {
public:
  static constexpr std::string_view category = "bench.account";
  using commands = annals::type_list<deposit, get_balance>;
  using events = annals::type_list<deposited>;

  annals::decision<account> handle(const deposit& cmd) const {
    return annals::emit(deposited{cmd.cents, cmd.memo});
  }
  int64_t handle(const get_balance&) const {
    return balance_;
  }

  void apply(const deposited& ev) noexcept {
    balance_ += ev.cents;
    ++deposits_;
    last_memo_ = ev.memo;
  }

  int64_t balance() const noexcept {
    return balance_;
  }

  template <class Inspector>
  friend typename Inspector::result_type inspect(Inspector& f, account& x) {
    return f(caf::meta::type_name("bench.account"), x.balance_, x.deposits_,
             x.last_memo_);
  }

private:
  int64_t balance_ = 0;
  uint64_t deposits_ = 0;
  std::string last_memo_;
};

} // namespace bench

CAF_BEGIN_TYPE_ID_BLOCK(bench, caf::id_block::annals::end)
CAF_ADD_TYPE_ID(bench, (bench::deposit))
CAF_ADD_TYPE_ID(bench, (bench::get_balance))
CAF_ADD_TYPE_ID(bench, (bench::deposited))
CAF_END_TYPE_ID_BLOCK(bench)
