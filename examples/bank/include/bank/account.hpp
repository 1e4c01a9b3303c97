// bank -- the example's account aggregate.
//
// An account has an owner, a balance in integer cents and a credit limit:
// the balance may go down to -credit_limit, never below. Amounts must be
// positive; sums that would overflow 64 bits are rejected. An account
// closes only at a zero balance and then takes no more money.
#pragma once

#include "annals/aggregate.hpp"
#include "annals/runtime_types.hpp"

#include <caf/error.hpp>
#include <caf/meta/type_name.hpp>

#include <cstdint>
#include <string>

namespace bank {

/// Why the bank refuses a command (category "bank").
enum class bank_errc : uint8_t {
  not_open = 1,
  already_open,
  closed,
  non_positive_amount,
  amount_overflow,
  over_credit_limit,
  nonzero_balance,
  negative_limit,
  limit_below_usage,
  same_account,
  wrong_state,
};

const char* to_string(bank_errc x) noexcept;

} // namespace bank

CAF_ERROR_CODE_ENUM(bank::bank_errc, "bank")

namespace bank {

// -- commands -----------------------------------------------------------------

struct open_account {
  std::string owner;
  int64_t credit_limit = 0;
};
struct credit {
  int64_t amount = 0;
  std::string transfer_id; ///< set when a transfer moves the money
};
struct withdraw {
  int64_t amount = 0;
  std::string transfer_id;
};
struct change_credit_limit {
  int64_t credit_limit = 0;
};
struct close_account {};
struct get_account {};

// -- events -------------------------------------------------------------------

struct account_opened {
  static constexpr std::string_view type_name = "bank.account_opened";
  std::string owner;
  int64_t credit_limit = 0;
};
struct account_credited {
  static constexpr std::string_view type_name = "bank.account_credited";
  int64_t amount = 0;
  int64_t balance = 0; ///< after the credit
  std::string transfer_id;
};
struct account_debited {
  static constexpr std::string_view type_name = "bank.account_debited";
  int64_t amount = 0;
  int64_t balance = 0; ///< after the debit
  std::string transfer_id;
};
struct credit_limit_changed {
  static constexpr std::string_view type_name = "bank.credit_limit_changed";
  int64_t credit_limit = 0;
};
struct account_closed {
  static constexpr std::string_view type_name = "bank.account_closed";
};

/// The answer to `get_account`.
struct account_view {
  bool open = false;
  bool closed = false;
  std::string owner;
  int64_t balance = 0;
  int64_t credit_limit = 0;
  /// The stream revision this view reflects (events applied), as the
  /// runtime counts it (`annals::command_context`).
  uint64_t revision = 0;
};

class account {
public:
  static constexpr std::string_view category = "bank.account";
  /// 2: the snapshot's fields as of version 2 (a revision counter kept by
  /// the account itself was never part of it and is gone).
  static constexpr uint32_t snapshot_version = 2;
  using commands
    = annals::type_list<open_account, credit, withdraw, change_credit_limit,
                        close_account, get_account>;
  using events
    = annals::type_list<account_opened, account_credited, account_debited,
                        credit_limit_changed, account_closed>;

  annals::decision<account> handle(const open_account& cmd) const;
  annals::decision<account> handle(const credit& cmd) const;
  annals::decision<account> handle(const withdraw& cmd) const;
  annals::decision<account> handle(const change_credit_limit& cmd) const;
  annals::decision<account> handle(const close_account& cmd) const;
  account_view handle(const get_account&,
                      const annals::command_context& ctx) const;

  void apply(const account_opened& ev) noexcept;
  void apply(const account_credited& ev) noexcept;
  void apply(const account_debited& ev) noexcept;
  void apply(const credit_limit_changed& ev) noexcept;
  void apply(const account_closed& ev) noexcept;

  template <class Inspector>
  friend typename Inspector::result_type inspect(Inspector& f, account& x) {
    return f(caf::meta::type_name("bank.account"), x.state_.open,
             x.state_.closed, x.state_.owner, x.state_.balance,
             x.state_.credit_limit);
  }

private:
  caf::error check_usable() const;

  struct state {
    bool open = false;
    bool closed = false;
    std::string owner;
    int64_t balance = 0;
    int64_t credit_limit = 0;
  };
  state state_;
};

// -- inspect (field lists only)
// ---------------------------------------------------

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, open_account& x) {
  return f(caf::meta::type_name("bank.open_account"), x.owner, x.credit_limit);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, credit& x) {
  return f(caf::meta::type_name("bank.credit"), x.amount, x.transfer_id);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, withdraw& x) {
  return f(caf::meta::type_name("bank.withdraw"), x.amount, x.transfer_id);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, change_credit_limit& x) {
  return f(caf::meta::type_name("bank.change_credit_limit"), x.credit_limit);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, close_account&) {
  return f(caf::meta::type_name("bank.close_account"));
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, get_account&) {
  return f(caf::meta::type_name("bank.get_account"));
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, account_opened& x) {
  return f(caf::meta::type_name("bank.account_opened"), x.owner,
           x.credit_limit);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, account_credited& x) {
  return f(caf::meta::type_name("bank.account_credited"), x.amount, x.balance,
           x.transfer_id);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, account_debited& x) {
  return f(caf::meta::type_name("bank.account_debited"), x.amount, x.balance,
           x.transfer_id);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, credit_limit_changed& x) {
  return f(caf::meta::type_name("bank.credit_limit_changed"), x.credit_limit);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, account_closed&) {
  return f(caf::meta::type_name("bank.account_closed"));
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, account_view& x) {
  return f(caf::meta::type_name("bank.account_view"), x.open, x.closed, x.owner,
           x.balance, x.credit_limit, x.revision);
}

} // namespace bank
