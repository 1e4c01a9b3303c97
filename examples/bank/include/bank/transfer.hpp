// bank -- a transfer between two accounts: its state and the saga that runs
// it.
//
// The transfer aggregate records what happened to the transfer; the saga
// (transfer_saga.hpp) makes it happen, driven by a subscription to the
// transfers' events:
//
//   started --debit source ok--> debited --credit target ok--> completed
//      \--debit rejected--> failed     \--credit rejected--> refunding
//                                          --credit source--> compensated
//
// Money is conserved: the sum of the balances plus the money of transfers in
// state `debited` or `refunding` (debited, not yet credited anywhere) is
// constant.
#pragma once

#include "annals/aggregate.hpp"
#include "annals/runtime_types.hpp"

#include "bank/account.hpp"

#include <caf/meta/type_name.hpp>

#include <cstdint>
#include <string>

namespace bank {

enum class transfer_status : uint8_t {
  none = 0,
  started,
  debited,
  completed,
  failed,
  refunding,
  compensated,
};

const char* to_string(transfer_status x) noexcept;

// -- commands (sent by clients and by the saga)
// ---------------------------------

struct start_transfer {
  std::string from;
  std::string to;
  int64_t amount = 0;
};
struct record_debit {};
struct record_credit {};
struct record_failure {
  std::string reason;
};
struct record_refund_needed {
  std::string reason;
};
struct record_refund {};
struct get_transfer {};

// -- events -------------------------------------------------------------------

struct transfer_started {
  static constexpr std::string_view type_name = "bank.transfer_started";
  std::string from;
  std::string to;
  int64_t amount = 0;
};
struct transfer_debited {
  static constexpr std::string_view type_name = "bank.transfer_debited";
};
struct transfer_completed {
  static constexpr std::string_view type_name = "bank.transfer_completed";
};
struct transfer_failed {
  static constexpr std::string_view type_name = "bank.transfer_failed";
  std::string reason;
};
struct transfer_refunding {
  static constexpr std::string_view type_name = "bank.transfer_refunding";
  std::string reason;
};
struct transfer_compensated {
  static constexpr std::string_view type_name = "bank.transfer_compensated";
};

struct transfer_view {
  uint8_t status = 0; ///< a transfer_status
  std::string from;
  std::string to;
  int64_t amount = 0;
  std::string reason;
};

class transfer {
public:
  static constexpr std::string_view category = "bank.transfer";
  using commands
    = annals::type_list<start_transfer, record_debit, record_credit,
                        record_failure, record_refund_needed, record_refund,
                        get_transfer>;
  using events = annals::type_list<transfer_started, transfer_debited,
                                   transfer_completed, transfer_failed,
                                   transfer_refunding, transfer_compensated>;

  annals::decision<transfer> handle(const start_transfer& cmd) const;
  annals::decision<transfer> handle(const record_debit&) const;
  annals::decision<transfer> handle(const record_credit&) const;
  annals::decision<transfer> handle(const record_failure& cmd) const;
  annals::decision<transfer> handle(const record_refund_needed& cmd) const;
  annals::decision<transfer> handle(const record_refund&) const;
  transfer_view handle(const get_transfer&) const;

  void apply(const transfer_started& ev) noexcept;
  void apply(const transfer_debited&) noexcept;
  void apply(const transfer_completed&) noexcept;
  void apply(const transfer_failed& ev) noexcept;
  void apply(const transfer_refunding& ev) noexcept;
  void apply(const transfer_compensated&) noexcept;

  transfer_status status() const noexcept {
    return static_cast<transfer_status>(view_.status);
  }

  template <class Inspector>
  friend typename Inspector::result_type inspect(Inspector& f, transfer& x) {
    return f(caf::meta::type_name("bank.transfer"), x.view_.status,
             x.view_.from, x.view_.to, x.view_.amount, x.view_.reason);
  }

private:
  /// A step is accepted only in the state before it; a repeated step is a
  /// no-op (the saga is at-least-once).
  annals::decision<transfer> step(transfer_status from, transfer_status to,
                                  annals::decision<transfer> d) const;
  transfer_view view_;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, start_transfer& x) {
  return f(caf::meta::type_name("bank.start_transfer"), x.from, x.to, x.amount);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, record_debit&) {
  return f(caf::meta::type_name("bank.record_debit"));
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, record_credit&) {
  return f(caf::meta::type_name("bank.record_credit"));
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, record_failure& x) {
  return f(caf::meta::type_name("bank.record_failure"), x.reason);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, record_refund_needed& x) {
  return f(caf::meta::type_name("bank.record_refund_needed"), x.reason);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, record_refund&) {
  return f(caf::meta::type_name("bank.record_refund"));
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, get_transfer&) {
  return f(caf::meta::type_name("bank.get_transfer"));
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, transfer_started& x) {
  return f(caf::meta::type_name("bank.transfer_started"), x.from, x.to,
           x.amount);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, transfer_debited&) {
  return f(caf::meta::type_name("bank.transfer_debited"));
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, transfer_completed&) {
  return f(caf::meta::type_name("bank.transfer_completed"));
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, transfer_failed& x) {
  return f(caf::meta::type_name("bank.transfer_failed"), x.reason);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, transfer_refunding& x) {
  return f(caf::meta::type_name("bank.transfer_refunding"), x.reason);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, transfer_compensated&) {
  return f(caf::meta::type_name("bank.transfer_compensated"));
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, transfer_view& x) {
  return f(caf::meta::type_name("bank.transfer_view"), x.status, x.from, x.to,
           x.amount, x.reason);
}

} // namespace bank
