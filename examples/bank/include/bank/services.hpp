// bank -- the bank on a runtime: aggregates, the transfer saga, the balance
// projection and the credit-limit monitor.
#pragma once

#include "annals/cluster/node.hpp"
#include "annals/runtime.hpp"

#include "bank/types.hpp"

#include <cstdint>
#include <optional>
#include <string>

namespace bank {

/// Read models (projections) kept by the services:
/// - "bank.balances": account id -> balance in cents (eventually consistent;
///   its position is the projection's checkpoint);
/// - "bank.credit": account id -> "<limit> <balance>", and
///   "alert/<account id>" -> a line describing the account's credit alert.
struct services {
  annals::aggregate_handle<account> accounts;
  annals::aggregate_handle<transfer> transfers;
  annals::subscription saga;
  annals::subscription balances;
  annals::subscription credit_monitor;
};

inline constexpr const char* balances_model = "bank.balances";
/// The transfer saga's durable consumer name (its checkpoints and parked
/// events in the journal).
inline constexpr const char* saga_consumer = "bank.transfer-saga";
inline constexpr const char* credit_model = "bank.credit";

/// The bank on a cluster node: handles that reach any account anywhere, the
/// saga for the transfers this node owns, and this node's copies of the
/// read models (cluster-wide projections) under the names given here.
struct cluster_services {
  annals::aggregate_handle<account> accounts;
  annals::aggregate_handle<transfer> transfers;
  annals::subscription saga;
  std::string balances_model;
  std::string credit_model;
};

/// Starts the bank's services on cluster node `node` (whose runtime is
/// `rt`).
cluster_services start(annals::cluster::node& node, annals::runtime& rt,
                       double alert_share = 0.8);

/// Starts the bank's services on `rt`. `alert_share`: the credit monitor
/// raises an alert when an account uses more than this share of its limit.
services start(annals::runtime& rt, double alert_share = 0.8);

/// The projected balance of `id` (nullopt if the projection has not seen
/// the account yet).
std::optional<int64_t>
projected_balance(const annals::journal& store, const std::string& id,
                  const std::string& model = balances_model);

/// The credit alert of `id`, if one was raised.
std::optional<std::string>
credit_alert(const annals::journal& store, const std::string& id,
             const std::string& model = credit_model);

} // namespace bank
