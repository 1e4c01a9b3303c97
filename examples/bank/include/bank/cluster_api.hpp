// bank -- the HTTP API's backend on a cluster node.
#pragma once

#include "annals/cluster/node.hpp"
#include "annals/runtime.hpp"

#include "bank/api.hpp"
#include "bank/services.hpp"

namespace bank {

/// Implements `api` on one cluster node: commands and strongly consistent
/// reads go to each aggregate's owner through the node (any node serves any
/// account); the balance projection and the metrics are this node's own.
///
/// Thread-safe. `node`, `rt` and `svc` must outlive it.
class cluster_api final : public api {
public:
  cluster_api(annals::cluster::node& node, annals::runtime& rt,
              cluster_services svc);

  void open_account(const std::string& id, const std::string& owner,
                    int64_t credit_limit, const std::string& command_id,
                    completion<annals::ack> done) override;
  void credit(const std::string& id, int64_t amount,
              const std::string& command_id,
              completion<annals::ack> done) override;
  void withdraw(const std::string& id, int64_t amount,
                const std::string& command_id,
                completion<annals::ack> done) override;
  void get_account(const std::string& id,
                   completion<account_state> done) override;
  void account_events(const std::string& id, uint64_t from_revision,
                      uint32_t max,
                      completion<std::vector<event_line>> done) override;
  void projected_balance(const std::string& id,
                         completion<projected_balance_view> done) override;
  void start_transfer(const std::string& transfer_id, const std::string& from,
                      const std::string& to, int64_t amount,
                      completion<annals::ack> done) override;
  void get_transfer(const std::string& transfer_id,
                    completion<transfer_view> done) override;
  void cluster_info(completion<std::string> done) override;
  void metrics_text(completion<std::string> done) override;
  void healthy(completion<bool> done) override;
  void leave(completion<bool> done) override;
  /// The parked events of this node's transfer saga (consumer
  /// `saga_consumer`), read from the local journal.
  void parked_events(completion<std::vector<parked_line>> done) override;
  /// Replays them through the saga's subscription (on a thread of its own:
  /// the replay blocks until the saga answered).
  void replay_parked(completion<replay_outcome> done) override;

private:
  annals::cluster::node& node_;
  annals::runtime& rt_;
  cluster_services svc_;
};

/// Renders an account event's fields as a JSON object (for
/// `GET /accounts/{id}/events`); `{}` for an unknown type.
std::string event_json(const annals::recorded_event& ev);

/// An account event as `GET /accounts/{id}/events` shows it: its fields
/// (`event_json`) and its metadata, partition and position, as recorded.
event_line to_event_line(const annals::recorded_event& ev);

} // namespace bank
