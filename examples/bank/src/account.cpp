// bank -- the account aggregate.
#include "bank/account.hpp"

namespace bank {

const char* to_string(bank_errc x) noexcept {
  switch (x) {
  case bank_errc::not_open:
    return "not_open";
  case bank_errc::already_open:
    return "already_open";
  case bank_errc::closed:
    return "closed";
  case bank_errc::non_positive_amount:
    return "non_positive_amount";
  case bank_errc::amount_overflow:
    return "amount_overflow";
  case bank_errc::over_credit_limit:
    return "over_credit_limit";
  case bank_errc::nonzero_balance:
    return "nonzero_balance";
  case bank_errc::negative_limit:
    return "negative_limit";
  case bank_errc::limit_below_usage:
    return "limit_below_usage";
  case bank_errc::same_account:
    return "same_account";
  case bank_errc::wrong_state:
    return "wrong_state";
  }
  return "unknown";
}

caf::error account::check_usable() const {
  if (!state_.open)
    return caf::make_error(bank_errc::not_open);
  if (state_.closed)
    return caf::make_error(bank_errc::closed);
  return {};
}

annals::decision<account> account::handle(const open_account& cmd) const {
  if (state_.open)
    return annals::reject(bank_errc::already_open);
  if (cmd.credit_limit < 0)
    return annals::reject(bank_errc::negative_limit);
  return annals::emit(account_opened{cmd.owner, cmd.credit_limit});
}

annals::decision<account> account::handle(const credit& cmd) const {
  if (auto err = check_usable())
    return annals::rejection{err};
  if (cmd.amount <= 0)
    return annals::reject(bank_errc::non_positive_amount);
  int64_t after = 0;
  if (__builtin_add_overflow(state_.balance, cmd.amount, &after))
    return annals::reject(bank_errc::amount_overflow);
  return annals::emit(account_credited{cmd.amount, after, cmd.transfer_id});
}

annals::decision<account> account::handle(const withdraw& cmd) const {
  if (auto err = check_usable())
    return annals::rejection{err};
  if (cmd.amount <= 0)
    return annals::reject(bank_errc::non_positive_amount);
  int64_t after = 0;
  if (__builtin_sub_overflow(state_.balance, cmd.amount, &after))
    return annals::reject(bank_errc::amount_overflow);
  if (after < -state_.credit_limit)
    return annals::reject(
      bank_errc::over_credit_limit,
      "balance " + std::to_string(state_.balance) + " cents, credit limit "
        + std::to_string(state_.credit_limit) + " cents, withdrawal "
        + std::to_string(cmd.amount) + " cents");
  return annals::emit(account_debited{cmd.amount, after, cmd.transfer_id});
}

annals::decision<account>
account::handle(const change_credit_limit& cmd) const {
  if (auto err = check_usable())
    return annals::rejection{err};
  if (cmd.credit_limit < 0)
    return annals::reject(bank_errc::negative_limit);
  if (state_.balance < -cmd.credit_limit)
    return annals::reject(bank_errc::limit_below_usage);
  return annals::emit(credit_limit_changed{cmd.credit_limit});
}

annals::decision<account> account::handle(const close_account&) const {
  if (auto err = check_usable())
    return annals::rejection{err};
  if (state_.balance != 0)
    return annals::reject(bank_errc::nonzero_balance);
  return annals::emit(account_closed{});
}

account_view account::handle(const get_account&,
                             const annals::command_context& ctx) const {
  return account_view{state_.open,    state_.closed,       state_.owner,
                      state_.balance, state_.credit_limit, ctx.revision};
}

void account::apply(const account_opened& ev) noexcept {
  state_.open = true;
  state_.owner = ev.owner;
  state_.credit_limit = ev.credit_limit;
}

void account::apply(const account_credited& ev) noexcept {
  state_.balance = ev.balance;
}

void account::apply(const account_debited& ev) noexcept {
  state_.balance = ev.balance;
}

void account::apply(const credit_limit_changed& ev) noexcept {
  state_.credit_limit = ev.credit_limit;
}

void account::apply(const account_closed&) noexcept {
  state_.closed = true;
}

} // namespace bank
