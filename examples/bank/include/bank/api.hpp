// bank -- the operations the HTTP API (and later the cluster) offers, as an
// abstract asynchronous backend.
#pragma once

#include "annals/command.hpp"
#include "annals/errc.hpp"
#include "annals/persistence/event.hpp"

#include "bank/account.hpp"
#include "bank/transfer.hpp"

#include <caf/expected.hpp>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace bank {

/// Called once with the result of an operation, on any thread.
template <class T>
using completion = std::function<void(caf::expected<T>)>;

/// An account's state and the revision of its stream it reflects.
struct account_state {
  account_view view;
  uint64_t revision = 0;
};

/// One stored event of an account, rendered for clients, with what lets a
/// client audit it: the command that caused it and where the journal put it.
struct event_line {
  uint64_t revision = 0;
  std::string type;      ///< the event's type name, e.g. "bank.account_opened"
  std::string data_json; ///< a JSON object with the event's fields
  /// When it was appended (ns since the Unix epoch; informational).
  int64_t timestamp_ns = 0;
  /// The command id that produced it (empty: the command carried none;
  /// a transfer step's is derived: "<transfer id>/debit", "/credit",
  /// "/refund"), correlation and causation ids (empty: none) and the
  /// ownership epoch of the partition's writer.
  annals::event_metadata meta;
  /// The journal partition of the account's stream, and the event's
  /// position in it (gap-free from 1, the same on every node).
  uint32_t partition = 0;
  uint64_t position = 0;
};

/// The balance projection's view of an account (eventually consistent).
struct projected_balance_view {
  bool known = false; ///< false: the projection has not seen the account yet
  int64_t balance = 0;
  uint64_t position = 0; ///< opaque progress marker; grows as it catches up
};

/// A parked (dead-lettered) event of one of this node's durable consumers:
/// its handler failed for good, so the consumer stopped at it.
struct parked_line {
  std::string consumer; ///< e.g. "bank.transfer-saga"
  std::string stream;   ///< "category/id"
  uint64_t revision = 0;
  uint64_t position = 0; ///< in its partition's log
  std::string reason;    ///< why the handler failed
};

/// What a replay of the parked events did.
struct replay_outcome {
  uint64_t handled = 0;   ///< re-delivered, handled and unparked
  uint64_t remaining = 0; ///< still parked afterwards
};

/// The bank's backend: one method per client operation.
///
/// Every method returns at once and calls `done` exactly once, possibly on
/// another thread and possibly before returning. Errors are `caf::error`s:
/// a `bank_errc` rejection (definite), an `annals::errc` (`unavailable`:
/// definitely not applied; `outcome_unknown`: may have been applied, retry
/// with the same command id) or a `journal_errc`. An empty `command_id`
/// means "not idempotent"; a transfer's id is its idempotency key.
/// Implementations must be thread-safe: methods are called from any thread.
class api {
public:
  virtual ~api() = default;

  // -- accounts ---------------------------------------------------------------

  virtual void open_account(const std::string& id, const std::string& owner,
                            int64_t credit_limit, const std::string& command_id,
                            completion<annals::ack> done)
    = 0;
  virtual void credit(const std::string& id, int64_t amount,
                      const std::string& command_id,
                      completion<annals::ack> done)
    = 0;
  virtual void withdraw(const std::string& id, int64_t amount,
                        const std::string& command_id,
                        completion<annals::ack> done)
    = 0;
  /// An account never opened yields `bank_errc::not_open` (or a view with
  /// `open == false && closed == false`; both read as "unknown account").
  virtual void get_account(const std::string& id,
                           completion<account_state> done)
    = 0;
  /// Up to `max` events from revision `from_revision` (1-based), in order,
  /// each with its metadata. An account never opened -- its stream has no
  /// events (revision 0) -- yields `bank_errc::not_open`; a `from_revision`
  /// past the end of an existing stream yields an empty list.
  virtual void account_events(const std::string& id, uint64_t from_revision,
                              uint32_t max,
                              completion<std::vector<event_line>> done)
    = 0;
  virtual void projected_balance(const std::string& id,
                                 completion<projected_balance_view> done)
    = 0;

  // -- transfers --------------------------------------------------------------

  virtual void start_transfer(const std::string& transfer_id,
                              const std::string& from, const std::string& to,
                              int64_t amount, completion<annals::ack> done)
    = 0;
  /// An unknown transfer yields a view with status `transfer_status::none`.
  virtual void get_transfer(const std::string& transfer_id,
                            completion<transfer_view> done)
    = 0;

  // -- operations -------------------------------------------------------------

  /// A JSON document describing the cluster, rendered by the cluster module.
  virtual void cluster_info(completion<std::string> done) = 0;
  /// Metrics in the Prometheus text format, version 0.0.4.
  virtual void metrics_text(completion<std::string> done) = 0;
  virtual void healthy(completion<bool> done) = 0;
  /// Admin: this node leaves the cluster gracefully (its partitions move to
  /// the others); `true` once they serve them. The node keeps answering
  /// requests as a gateway. Default: not supported.
  virtual void leave(completion<bool> done) {
    done(annals::make_error(annals::errc::invalid_command,
                            "this backend cannot leave a cluster"));
  }
  /// Admin: the parked events of this node's durable consumers (the
  /// transfer saga), in stream order per consumer. Default: not supported.
  virtual void parked_events(completion<std::vector<parked_line>> done) {
    done(annals::make_error(annals::errc::invalid_command,
                            "this backend has no parked events"));
  }
  /// Admin: re-delivers every parked event of this node's durable consumers
  /// and unparks those handled now. Default: not supported.
  virtual void replay_parked(completion<replay_outcome> done) {
    done(annals::make_error(annals::errc::invalid_command,
                            "this backend has no parked events"));
  }
};

} // namespace bank
