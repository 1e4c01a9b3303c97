// annals -- the aggregate of cluster_bench, shared by the bench (client and
// in-process baseline) and its node processes (cluster_bench_node).
#pragma once

#include "annals/aggregate.hpp"
#include "annals/runtime_types.hpp"

#include <caf/meta/type_name.hpp>

#include <cstdint>
#include <string>
#include <string_view>

namespace cluster_bench {

struct deposit {
  int64_t cents = 0;
  std::string memo;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, deposit& x) {
  return f(caf::meta::type_name("cluster_bench.deposit"), x.cents, x.memo);
}

struct deposited {
  static constexpr std::string_view type_name = "cluster_bench.deposited";
  int64_t cents = 0;
  std::string memo;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, deposited& x) {
  return f(caf::meta::type_name("cluster_bench.deposited"), x.cents, x.memo);
}

/// An account with one deciding command (the same shape as runtime_bench's).
class account {
public:
  static constexpr std::string_view category = "cluster_bench.account";
  using commands = annals::type_list<deposit>;
  using events = annals::type_list<deposited>;

  annals::decision<account> handle(const deposit& cmd) const {
    return annals::emit(deposited{cmd.cents, cmd.memo});
  }

  void apply(const deposited& ev) noexcept {
    balance_ += ev.cents;
    ++deposits_;
  }

  template <class Inspector>
  friend typename Inspector::result_type inspect(Inspector& f, account& x) {
    return f(caf::meta::type_name("cluster_bench.account"), x.balance_,
             x.deposits_);
  }

private:
  int64_t balance_ = 0;
  uint64_t deposits_ = 0;
};

} // namespace cluster_bench

CAF_BEGIN_TYPE_ID_BLOCK(cluster_bench, caf::id_block::annals::end)
CAF_ADD_TYPE_ID(cluster_bench, (cluster_bench::deposit))
CAF_ADD_TYPE_ID(cluster_bench, (cluster_bench::deposited))
CAF_END_TYPE_ID_BLOCK(cluster_bench)
