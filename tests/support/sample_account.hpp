// annals -- test support: a small account aggregate exercising every part of
// the aggregate contract (deciding commands, a query, a rejection enum, an
// upcast event, a snapshottable state).
#pragma once

#include "annals/aggregate.hpp"
#include "annals/runtime_types.hpp"

#include <caf/error.hpp>
#include <caf/meta/type_name.hpp>

#include <cstdint>
#include <stdexcept>
#include <string>

namespace sample {

enum class account_errc : uint8_t {
  not_open = 1,
  already_open,
  non_positive_amount,
  insufficient_funds,
};

} // namespace sample

CAF_ERROR_CODE_ENUM(sample::account_errc, "sample")

namespace sample {

// -- commands ---------------------------------------------------------------

struct open {
  std::string owner;
};
struct deposit {
  int64_t cents = 0;
  std::string memo;
};
struct withdraw {
  int64_t cents = 0;
};
struct note {
  std::string sender;
  uint64_t seq = 0;
};
struct explode {}; ///< the handler throws
struct touch {};   ///< decides to emit nothing
struct get_balance {};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, open& x) {
  return f(caf::meta::type_name("sample.open"), x.owner);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, deposit& x) {
  return f(caf::meta::type_name("sample.deposit"), x.cents, x.memo);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, withdraw& x) {
  return f(caf::meta::type_name("sample.withdraw"), x.cents);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, note& x) {
  return f(caf::meta::type_name("sample.note"), x.sender, x.seq);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, explode&) {
  return f(caf::meta::type_name("sample.explode"));
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, touch&) {
  return f(caf::meta::type_name("sample.touch"));
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, get_balance&) {
  return f(caf::meta::type_name("sample.get_balance"));
}

// -- events -------------------------------------------------------------------

struct opened {
  static constexpr std::string_view type_name = "sample.opened";
  std::string owner;
};

/// Version 1 of `deposited`, as older builds wrote it.
struct deposited_v1 {
  static constexpr std::string_view type_name = "sample.deposited";
  static constexpr uint32_t schema_version = 1;
  int64_t cents = 0;
};

/// Version 2 added a memo.
struct deposited {
  static constexpr std::string_view type_name = "sample.deposited";
  static constexpr uint32_t schema_version = 2;
  using upcast_from = deposited_v1;
  static deposited upcast(deposited_v1 old) {
    return {old.cents, "(before memos)"};
  }
  int64_t cents = 0;
  std::string memo;
};

struct withdrawn {
  static constexpr std::string_view type_name = "sample.withdrawn";
  int64_t cents = 0;
};

struct noted {
  static constexpr std::string_view type_name = "sample.noted";
  std::string sender;
  uint64_t seq = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, opened& x) {
  return f(caf::meta::type_name("sample.opened"), x.owner);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, deposited_v1& x) {
  return f(caf::meta::type_name("sample.deposited_v1"), x.cents);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, deposited& x) {
  return f(caf::meta::type_name("sample.deposited"), x.cents, x.memo);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, withdrawn& x) {
  return f(caf::meta::type_name("sample.withdrawn"), x.cents);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, noted& x) {
  return f(caf::meta::type_name("sample.noted"), x.sender, x.seq);
}

// -- the aggregate ------------------------------------------------------------

class account {
public:
  static constexpr std::string_view category = "sample.account";
  using commands = annals::type_list<open, deposit, withdraw, note, explode,
                                     touch, get_balance>;
  using events = annals::type_list<opened, deposited, withdrawn, noted>;

  annals::decision<account> handle(const open& cmd) const {
    if (open_)
      return annals::reject(account_errc::already_open);
    return annals::emit(opened{cmd.owner});
  }
  annals::decision<account> handle(const deposit& cmd) const {
    if (cmd.cents <= 0)
      return annals::reject(account_errc::non_positive_amount);
    return annals::emit(deposited{cmd.cents, cmd.memo});
  }
  annals::decision<account> handle(const withdraw& cmd) const {
    if (cmd.cents <= 0)
      return annals::reject(account_errc::non_positive_amount);
    if (cmd.cents > balance_)
      return annals::reject(account_errc::insufficient_funds,
                            "balance " + std::to_string(balance_));
    return annals::emit(withdrawn{cmd.cents});
  }
  annals::decision<account> handle(const note& cmd) const {
    return annals::emit(noted{cmd.sender, cmd.seq});
  }
  annals::decision<account> handle(const explode&) const {
    throw std::runtime_error("boom");
  }
  annals::decision<account> handle(const touch&) const {
    return annals::emit();
  }
  int64_t handle(const get_balance&) const {
    return balance_;
  }

  void apply(const opened& ev) noexcept {
    open_ = true;
    owner_ = ev.owner;
  }
  void apply(const deposited& ev) noexcept {
    balance_ += ev.cents;
    last_memo_ = ev.memo;
  }
  void apply(const withdrawn& ev) noexcept {
    balance_ -= ev.cents;
  }
  void apply(const noted&) noexcept {
    ++notes_;
  }

  int64_t balance() const noexcept {
    return balance_;
  }
  uint64_t notes() const noexcept {
    return notes_;
  }
  const std::string& last_memo() const noexcept {
    return last_memo_;
  }
  const std::string& owner() const noexcept {
    return owner_;
  }

  template <class Inspector>
  friend typename Inspector::result_type inspect(Inspector& f, account& x) {
    return f(caf::meta::type_name("sample.account"), x.open_, x.owner_,
             x.balance_, x.notes_, x.last_memo_);
  }

private:
  bool open_ = false;
  std::string owner_;
  int64_t balance_ = 0;
  uint64_t notes_ = 0;
  std::string last_memo_;
};

} // namespace sample

CAF_BEGIN_TYPE_ID_BLOCK(sample, caf::id_block::annals::end)
CAF_ADD_TYPE_ID(sample, (sample::open))
CAF_ADD_TYPE_ID(sample, (sample::deposit))
CAF_ADD_TYPE_ID(sample, (sample::withdraw))
CAF_ADD_TYPE_ID(sample, (sample::note))
CAF_ADD_TYPE_ID(sample, (sample::explode))
CAF_ADD_TYPE_ID(sample, (sample::touch))
CAF_ADD_TYPE_ID(sample, (sample::get_balance))
CAF_ADD_TYPE_ID(sample, (sample::opened))
CAF_ADD_TYPE_ID(sample, (sample::deposited))
CAF_ADD_TYPE_ID(sample, (sample::withdrawn))
CAF_ADD_TYPE_ID(sample, (sample::noted))
CAF_END_TYPE_ID_BLOCK(sample)
