// bank -- the transfer aggregate.
#include "bank/transfer.hpp"

namespace bank {

const char* to_string(transfer_status x) noexcept {
  switch (x) {
  case transfer_status::none:
    return "none";
  case transfer_status::started:
    return "started";
  case transfer_status::debited:
    return "debited";
  case transfer_status::completed:
    return "completed";
  case transfer_status::failed:
    return "failed";
  case transfer_status::refunding:
    return "refunding";
  case transfer_status::compensated:
    return "compensated";
  }
  return "unknown";
}

annals::decision<transfer> transfer::step(transfer_status from,
                                          transfer_status to,
                                          annals::decision<transfer> d) const {
  if (status() == to)
    return annals::emit(); // a repeated step: nothing new
  if (status() != from)
    return annals::reject(bank_errc::wrong_state,
                          std::string{"transfer is "} + to_string(status()));
  return d;
}

annals::decision<transfer> transfer::handle(const start_transfer& cmd) const {
  if (status() != transfer_status::none)
    return annals::reject(bank_errc::already_open, "transfer exists");
  if (cmd.amount <= 0)
    return annals::reject(bank_errc::non_positive_amount);
  if (cmd.from == cmd.to)
    return annals::reject(bank_errc::same_account);
  return annals::emit(transfer_started{cmd.from, cmd.to, cmd.amount});
}

annals::decision<transfer> transfer::handle(const record_debit&) const {
  return step(transfer_status::started, transfer_status::debited,
              annals::emit(transfer_debited{}));
}

annals::decision<transfer> transfer::handle(const record_credit&) const {
  return step(transfer_status::debited, transfer_status::completed,
              annals::emit(transfer_completed{}));
}

annals::decision<transfer> transfer::handle(const record_failure& cmd) const {
  return step(transfer_status::started, transfer_status::failed,
              annals::emit(transfer_failed{cmd.reason}));
}

annals::decision<transfer>
transfer::handle(const record_refund_needed& cmd) const {
  return step(transfer_status::debited, transfer_status::refunding,
              annals::emit(transfer_refunding{cmd.reason}));
}

annals::decision<transfer> transfer::handle(const record_refund&) const {
  return step(transfer_status::refunding, transfer_status::compensated,
              annals::emit(transfer_compensated{}));
}

transfer_view transfer::handle(const get_transfer&) const {
  return view_;
}

void transfer::apply(const transfer_started& ev) noexcept {
  view_.status = static_cast<uint8_t>(transfer_status::started);
  view_.from = ev.from;
  view_.to = ev.to;
  view_.amount = ev.amount;
}

void transfer::apply(const transfer_debited&) noexcept {
  view_.status = static_cast<uint8_t>(transfer_status::debited);
}

void transfer::apply(const transfer_completed&) noexcept {
  view_.status = static_cast<uint8_t>(transfer_status::completed);
}

void transfer::apply(const transfer_failed& ev) noexcept {
  view_.status = static_cast<uint8_t>(transfer_status::failed);
  view_.reason = ev.reason;
}

void transfer::apply(const transfer_refunding& ev) noexcept {
  view_.status = static_cast<uint8_t>(transfer_status::refunding);
  view_.reason = ev.reason;
}

void transfer::apply(const transfer_compensated&) noexcept {
  view_.status = static_cast<uint8_t>(transfer_status::compensated);
}

} // namespace bank
