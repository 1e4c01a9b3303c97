// bank -- the transfer saga, the balance projection, the credit monitor.
#include "bank/services.hpp"

#include "annals/codec.hpp"
#include "annals/log.hpp"
#include "annals/render.hpp"

#include <caf/event_based_actor.hpp>

#include <chrono>
#include <memory>

namespace bank {

namespace {

using account_event = annals::tl_variant_t<account::events>;
using transfer_event = annals::tl_variant_t<transfer::events>;

template <class Variant, class Events>
caf::error decode(const annals::recorded_event& ev, Variant& out) {
  return annals::decode_event<Events>(
    ev.type, ev.schema_version, ev.payload.data(), ev.payload.size(), out);
}

bool is_rejection(const caf::error& err) {
  return err && err.category() == caf::atom("bank");
}

constexpr auto step_timeout = std::chrono::seconds{30};

/// The transfer saga: for each transfer event, the next step, sent with a
/// command id derived from the transfer id and the step, so that a
/// re-delivered event (at-least-once) repeats nothing that succeeded.
///
/// A rejection is not remembered by the journal, so re-sending a refused
/// step may succeed later (a withdrawal refused for want of money goes
/// through once the account is credited). Hence every step first reads the
/// transfer and acts only while the transfer is still in the state the
/// event left it in: a redelivered `transfer_started` of a transfer that
/// has already failed does nothing, instead of debiting the source of a
/// failed transfer.
struct saga {
  caf::event_based_actor* self;
  annals::aggregate_handle<account> accounts;
  annals::aggregate_handle<transfer> transfers;

  using done_fn = std::function<void(caf::error)>;

  template <class A, class C>
  void send(const annals::aggregate_handle<A>& h, const std::string& id, C cmd,
            std::string command_id, std::function<void(caf::error)> then) {
    annals::command_options opts;
    opts.command_id = std::move(command_id);
    self->request(h.actor(), step_timeout, h.make(id, std::move(cmd), opts))
      .then([then](const annals::ack&) { then(caf::error{}); },
            [then](caf::error& err) { then(err); });
  }

  /// Calls `act(view)` if transfer `id` is in state `expected`; else the
  /// step was taken already (this is a redelivery): `done()`.
  void if_still(const std::string& id, transfer_status expected, done_fn done,
                std::function<void(const transfer_view&)> act) {
    self
      ->request(transfers.actor(), step_timeout,
                transfers.make(id, get_transfer{}))
      .then(
        [expected, done, act](const transfer_view& v) {
          if (v.status == static_cast<uint8_t>(expected))
            act(v);
          else
            done(caf::error{});
        },
        [done](caf::error& err) { done(err); });
  }

  /// Runs the step for one event and calls `done` (with an error if the
  /// step did not get a definite answer: the event is redelivered).
  void step(const annals::recorded_event& ev, done_fn done) {
    transfer_event te;
    if (auto err = decode<transfer_event, transfer::events>(ev, te))
      return done(err);
    const auto& id = ev.stream.id;
    if (std::holds_alternative<transfer_started>(te)) {
      if_still(id, transfer_status::started, done,
               [this, id, done](const transfer_view& v) {
                 send(accounts, v.from, withdraw{v.amount, id}, id + "/debit",
                      [this, id, done](caf::error err) {
                        if (!err)
                          return send(transfers, id, record_debit{},
                                      id + "/debited", done);
                        if (is_rejection(err))
                          return send(transfers, id,
                                      record_failure{annals::render(err)},
                                      id + "/failed", done);
                        done(err);
                      });
               });
      return;
    }
    if (std::holds_alternative<transfer_debited>(te)) {
      if_still(id, transfer_status::debited, done,
               [this, id, done](const transfer_view& v) {
                 send(accounts, v.to, credit{v.amount, id}, id + "/credit",
                      [this, id, done](caf::error err) {
                        if (!err)
                          return send(transfers, id, record_credit{},
                                      id + "/completed", done);
                        if (is_rejection(err))
                          return send(transfers, id,
                                      record_refund_needed{annals::render(err)},
                                      id + "/refunding", done);
                        done(err);
                      });
               });
      return;
    }
    if (std::holds_alternative<transfer_refunding>(te)) {
      if_still(id, transfer_status::refunding, done,
               [this, id, done](const transfer_view& v) {
                 send(accounts, v.from, credit{v.amount, id}, id + "/refund",
                      [this, id, done](caf::error err) {
                        if (!err)
                          return send(transfers, id, record_refund{},
                                      id + "/compensated", done);
                        done(err); // the source must take its money back
                      });
               });
      return;
    }
    done(caf::error{}); // completed, failed, compensated: nothing to do
  }
};

caf::behavior saga_actor(caf::event_based_actor* self,
                         annals::aggregate_handle<account> accounts,
                         annals::aggregate_handle<transfer> transfers) {
  auto s = std::make_shared<saga>(saga{self, accounts, transfers});
  return {
    [self, s](annals::event_batch& batch) {
      auto rp = self->make_response_promise();
      auto events = std::make_shared<std::vector<annals::recorded_event>>(
        std::move(batch.events));
      auto next = std::make_shared<std::function<void(std::size_t)>>();
      *next = [s, rp, events, next](std::size_t i) mutable {
        if (i == events->size()) {
          rp.deliver(annals::batch_done{static_cast<uint32_t>(i), {}});
          *next = nullptr; // break the cycle
          return;
        }
        s->step((*events)[i], [rp, i, next](caf::error err) mutable {
          if (err) {
            // An owner out of reach, a timeout, a moving partition: the
            // runtime retries with backoff until the step gets a definite
            // answer. Only a deterministic failure is ever parked.
            rp.deliver(annals::batch_done{static_cast<uint32_t>(i),
                                          annals::render(err),
                                          annals::is_transient(err)});
            *next = nullptr;
            return;
          }
          (*next)(i + 1);
        });
      };
      (*next)(0);
      return rp;
    },
  };
}

annals::projection_handler balances_handler() {
  return [](const annals::recorded_event& ev, annals::model_writer& model) {
    account_event ae;
    if (auto err = decode<account_event, account::events>(ev, ae))
      return err;
    if (auto* c = std::get_if<account_credited>(&ae))
      model.put(ev.stream.id, std::to_string(c->balance));
    else if (auto* d = std::get_if<account_debited>(&ae))
      model.put(ev.stream.id, std::to_string(d->balance));
    else if (std::holds_alternative<account_opened>(ae))
      model.put(ev.stream.id, "0");
    return caf::error{};
  };
}

annals::projection_handler credit_handler(double alert_share) {
  return [alert_share](const annals::recorded_event& ev,
                       annals::model_writer& model) {
    account_event ae;
    if (auto err = decode<account_event, account::events>(ev, ae))
      return err;
    int64_t limit = 0, balance = 0;
    if (auto row = model.get(ev.stream.id))
      std::sscanf(row->c_str(), "%ld %ld", &limit, &balance);
    if (auto* o = std::get_if<account_opened>(&ae))
      limit = o->credit_limit;
    else if (auto* l = std::get_if<credit_limit_changed>(&ae))
      limit = l->credit_limit;
    else if (auto* c = std::get_if<account_credited>(&ae))
      balance = c->balance;
    else if (auto* d = std::get_if<account_debited>(&ae))
      balance = d->balance;
    model.put(ev.stream.id,
              std::to_string(limit) + " " + std::to_string(balance));
    auto used = balance < 0 ? -balance : 0;
    if (limit > 0 && static_cast<double>(used) > alert_share * limit) {
      auto text = "account " + ev.stream.id + " uses " + std::to_string(used)
                  + " of its " + std::to_string(limit) + " cents credit limit";
      // A separate model: alerts are their own read model.
      annals::log(annals::log_level::info, "credit alert: " + text);
      model.put("alert/" + ev.stream.id, text);
    }
    return caf::error{};
  };
}

annals::subscription_options saga_options() {
  annals::subscription_options opts;
  opts.filter
    = annals::subscription_filter::of_category(std::string{transfer::category});
  opts.consumer = saga_consumer;
  opts.start = annals::start_from::checkpoint;
  opts.checkpoint_every = 1;
  // On a replicated cluster every node holds copies of the transfers: only
  // the leader of a transfer's partition drives it.
  opts.leading_only = true;
  // Transient failures are retried forever (with backoff up to 2 s); a
  // deterministic one (an undecodable event, a refused step) is parked after
  // 5 deliveries, visible and replayable by an operator.
  opts.max_attempts = 5;
  opts.max_retry_backoff = std::chrono::seconds{2};
  return opts;
}

annals::subscription_filter accounts_only() {
  return annals::subscription_filter::of_category(
    std::string{account::category});
}

} // namespace

services start(annals::runtime& rt, double alert_share) {
  annals::register_error_category<bank_errc>(caf::atom("bank"));
  services out;
  out.accounts = rt.host<account>();
  out.transfers = rt.host<transfer>();
  auto saga = rt.system().spawn(saga_actor, out.accounts, out.transfers);
  rt.adopt(saga);
  out.saga = rt.subscribe(saga, saga_options());
  out.balances
    = rt.project(balances_model, accounts_only(), balances_handler());
  out.credit_monitor
    = rt.project(credit_model, accounts_only(), credit_handler(alert_share));
  return out;
}

cluster_services start(annals::cluster::node& node, annals::runtime& rt,
                       double alert_share) {
  annals::register_error_category<bank_errc>(caf::atom("bank"));
  cluster_services out;
  out.accounts = node.host<account>();
  out.transfers = node.host<transfer>();
  // The saga runs where the transfers are: each node drives the transfers
  // of the partitions it owns (its local journal), and its commands go
  // through the cluster to whichever node owns each account.
  auto saga = rt.system().spawn(saga_actor, out.accounts, out.transfers);
  rt.adopt(saga);
  out.saga = rt.subscribe(saga, saga_options());
  // Every node keeps its own copy of the read models, fed from all nodes.
  node.project(balances_model, accounts_only(), balances_handler());
  node.project(credit_model, accounts_only(), credit_handler(alert_share));
  out.balances_model = annals::cluster::node::model_name(balances_model);
  out.credit_model = annals::cluster::node::model_name(credit_model);
  return out;
}

std::optional<int64_t> projected_balance(const annals::journal& store,
                                         const std::string& id,
                                         const std::string& model) {
  auto row = store.load_model(model, id);
  if (!row || !*row)
    return std::nullopt;
  return std::stoll(**row);
}

std::optional<std::string> credit_alert(const annals::journal& store,
                                        const std::string& id,
                                        const std::string& model) {
  auto row = store.load_model(model, "alert/" + id);
  if (!row || !*row)
    return std::nullopt;
  return **row;
}

} // namespace bank
