// bank -- the HTTP API's backend on a cluster node.
#include "bank/cluster_api.hpp"

#include "annals/codec.hpp"
#include "annals/errc.hpp"

#include "bank/metrics.hpp"

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <thread>

namespace bank {

namespace {

using json = nlohmann::json;

/// Unpacks a reply of type `T` (or reports a protocol error).
template <class T>
std::function<void(caf::expected<caf::message>)> expect(completion<T> done) {
  return [done = std::move(done)](caf::expected<caf::message> r) {
    if (!r)
      return done(std::move(r.error()));
    if (r->match_elements<T>())
      return done(r->get_as<T>(0));
    done(annals::make_error(annals::errc::malformed_payload,
                            "unexpected reply " + to_string(*r)));
  };
}

annals::command_options with_id(const std::string& command_id) {
  annals::command_options opts;
  opts.command_id = command_id;
  return opts;
}

} // namespace

cluster_api::cluster_api(annals::cluster::node& node, annals::runtime& rt,
                         cluster_services svc)
  : node_(node), rt_(rt), svc_(std::move(svc)) {
}

void cluster_api::open_account(const std::string& id, const std::string& owner,
                               int64_t credit_limit,
                               const std::string& command_id,
                               completion<annals::ack> done) {
  node_.send(svc_.accounts.make(id, bank::open_account{owner, credit_limit},
                                with_id(command_id)),
             expect(std::move(done)));
}

void cluster_api::credit(const std::string& id, int64_t amount,
                         const std::string& command_id,
                         completion<annals::ack> done) {
  node_.send(
    svc_.accounts.make(id, bank::credit{amount, {}}, with_id(command_id)),
    expect(std::move(done)));
}

void cluster_api::withdraw(const std::string& id, int64_t amount,
                           const std::string& command_id,
                           completion<annals::ack> done) {
  node_.send(
    svc_.accounts.make(id, bank::withdraw{amount, {}}, with_id(command_id)),
    expect(std::move(done)));
}

void cluster_api::get_account(const std::string& id,
                              completion<account_state> done) {
  node_.send(svc_.accounts.make(id, bank::get_account{}),
             expect<account_view>([done](caf::expected<account_view> v) {
               if (!v)
                 return done(std::move(v.error()));
               done(account_state{*v, v->revision});
             }));
}

void cluster_api::account_events(const std::string& id, uint64_t from_revision,
                                 uint32_t max,
                                 completion<std::vector<event_line>> done) {
  // An account exists once its stream has an event (every refused command
  // writes none), so "unknown" is an empty read from revision 1. An empty
  // page further on needs a second, one-event read from the owner to tell
  // "past the end" from "no stream".
  annals::stream_id stream{std::string{account::category}, id};
  auto unknown = [id] {
    return caf::make_error(bank_errc::not_open,
                           "account " + id + " has no events");
  };
  auto* node = &node_;
  node_.read_stream(
    stream, from_revision, max,
    [node, stream, from_revision, unknown,
     done](caf::expected<std::vector<annals::recorded_event>> evs) {
      if (!evs)
        return done(std::move(evs.error()));
      if (!evs->empty()) {
        std::vector<event_line> out;
        out.reserve(evs->size());
        for (auto& ev : *evs)
          out.push_back(to_event_line(ev));
        return done(std::move(out));
      }
      if (from_revision <= 1)
        return done(unknown());
      node->read_stream(
        stream, 1, 1,
        [unknown,
         done](caf::expected<std::vector<annals::recorded_event>> first) {
          if (!first)
            return done(std::move(first.error()));
          if (first->empty())
            return done(unknown());
          done(std::vector<event_line>{});
        });
    });
}

void cluster_api::projected_balance(const std::string& id,
                                    completion<projected_balance_view> done) {
  projected_balance_view out;
  auto& store = rt_.store();
  if (auto b = bank::projected_balance(store, id, svc_.balances_model)) {
    out.known = true;
    out.balance = *b;
  }
  // Progress marker: the sum of the projection's positions.
  (void)store.scan_checkpoints(
    [&](std::string_view consumer, annals::partition_id, annals::position p) {
      if (consumer == svc_.balances_model)
        out.position += p;
      return true;
    });
  done(out);
}

void cluster_api::start_transfer(const std::string& transfer_id,
                                 const std::string& from, const std::string& to,
                                 int64_t amount, completion<annals::ack> done) {
  node_.send(svc_.transfers.make(transfer_id,
                                 bank::start_transfer{from, to, amount},
                                 with_id("start/" + transfer_id)),
             expect(std::move(done)));
}

void cluster_api::get_transfer(const std::string& transfer_id,
                               completion<transfer_view> done) {
  node_.send(svc_.transfers.make(transfer_id, bank::get_transfer{}),
             expect(std::move(done)));
}

void cluster_api::cluster_info(completion<std::string> done) {
  auto s = node_.status();
  if (!s)
    return done(std::move(s.error()));
  json members = json::array();
  std::map<std::string, int> owned;
  for (auto& o : s->owners)
    ++owned[o];
  uint64_t max_epoch = 0;
  for (auto e : s->current.epochs)
    max_epoch = std::max(max_epoch, e);
  for (std::size_t i = 0; i < s->current.members.size(); ++i) {
    const auto& m = s->current.members[i];
    members.push_back({{"name", m.name},
                       {"address", m.host + ":" + std::to_string(m.port)},
                       {"reachable", s->reachable[i]},
                       {"partitions", owned[m.name]}});
  }
  json partitions = json::array();
  for (std::size_t p = 0; p < s->owners.size() && p < s->current.epochs.size();
       ++p)
    partitions.push_back({{"partition", p},
                          {"owner", s->owners[p]},
                          {"epoch", s->current.epochs[p]}});
  json doc = {{"self", s->self},
              {"view", s->current.version},
              {"settled", s->settled},
              {"members", members},
              {"max_epoch", max_epoch},
              {"this_node",
               {{"active", s->active},
                {"inbound", s->inbound},
                {"routed", s->routed},
                {"forwarded", s->forwarded},
                {"unavailable", s->unavailable}}},
              {"partitions", partitions}};
  doc["mode"] = node_.replicated() ? "replicated" : "owned";
  if (node_.replicated()) {
    auto reps = node_.replicas();
    if (!reps)
      return done(std::move(reps.error()));
    std::map<std::string, int> phases;
    int learners = 0;
    for (const auto& r : *reps) {
      ++phases[r.phase];
      learners += r.voter ? 0 : 1;
      if (r.partition < doc["partitions"].size())
        doc["partitions"][r.partition]["replica"]
          = {{"phase", r.phase}, {"voter", r.voter},
             {"epoch", r.epoch}, {"high_watermark", r.high_watermark},
             {"end", r.end},     {"leader", r.leader}};
    }
    doc["this_node"]["replicas"]
      = {{"held", reps->size()}, {"learners", learners}, {"phases", phases}};
  }
  done(doc.dump());
}

void cluster_api::metrics_text(completion<std::string> done) {
  auto st = rt_.stats();
  auto cs = node_.status();
  std::ostringstream out;
  auto node = prom_label_value(node_.name());
  auto head = [&](const char* name, const char* help, const char* type) {
    out << "# HELP " << name << ' ' << help << "\n# TYPE " << name << ' '
        << type << '\n';
  };
  auto counter = [&](const char* name, const char* help, uint64_t v) {
    head(name, help, "counter");
    out << name << "{node=\"" << node << "\"} " << v << '\n';
  };
  auto gauge = [&](const char* name, const char* help, double v) {
    head(name, help, "gauge");
    out << name << "{node=\"" << node << "\"} " << prom_number(v) << '\n';
  };
  auto histogram = [&](const char* name, const char* help,
                       const std::vector<uint64_t>& buckets,
                       const double* bounds, std::size_t n, double sum) {
    head(name, help, "histogram");
    uint64_t acc = 0;
    for (std::size_t i = 0; i < buckets.size(); ++i) {
      acc += buckets[i];
      out << name << "_bucket{node=\"" << node << "\",le=\""
          << (i < n ? prom_number(bounds[i]) : std::string{"+Inf"}) << "\"} "
          << acc << '\n';
    }
    out << name << "_sum{node=\"" << node << "\"} " << prom_number(sum) << '\n'
        << name << "_count{node=\"" << node << "\"} " << acc << '\n';
  };
  counter("annals_commits_total", "Group commits of the journal.", st.commits);
  counter("annals_appends_total", "Appends (commands with events) committed.",
          st.appends);
  histogram(
    "annals_commit_latency_seconds",
    "Duration of one group commit (write + fsync).", st.commit_latency,
    [] {
      static double b[std::size(annals::commit_latency_bounds_ms)];
      for (std::size_t i = 0; i < std::size(b); ++i)
        b[i] = annals::commit_latency_bounds_ms[i] / 1000;
      return b;
    }(),
    std::size(annals::commit_latency_bounds_ms),
    static_cast<double>(st.commit_latency_sum_us) / 1e6);
  histogram("annals_commit_batch_size", "Appends per group commit.",
            st.batch_sizes, annals::batch_size_bounds,
            std::size(annals::batch_size_bounds),
            static_cast<double>(st.appends));
  gauge("annals_live_aggregates", "Aggregates in memory.",
        static_cast<double>(st.live_aggregates));
  counter("annals_recoveries_total", "Aggregates recovered from the journal.",
          st.recoveries);
  counter("annals_storage_failures_total", "Commits that failed.",
          st.storage_failures);
  counter("annals_delivered_events_total", "Events delivered to subscribers.",
          st.delivered_events);
  counter("annals_retried_deliveries_total",
          "Redeliveries to subscribers after a transient failure.",
          st.retried_deliveries);
  if (cs) {
    counter("annals_cluster_routed_total", "Commands routed by this node.",
            cs->routed);
    counter("annals_cluster_forwarded_total",
            "Commands forwarded to another owner.", cs->forwarded);
    counter("annals_cluster_unavailable_total",
            "Commands refused because the owner was unreachable.",
            cs->unavailable);
    gauge("annals_cluster_view", "Membership view version.",
          static_cast<double>(cs->current.version));
    gauge("annals_cluster_partitions_active", "Partitions served here.",
          cs->active);
  }
  // Per subscription: the runtime's (over this node's journal: the saga)
  // and the cluster-wide cursors (the projections, fed from every node).
  // Members of one consumer group add up; parked rows are shared by them.
  struct sub_row {
    uint64_t lag = 0;
    uint64_t parked = 0;
  };
  std::map<std::pair<std::string, std::string>, sub_row> subs;
  auto add = [&](const char* scope, const annals::subscription_progress& p) {
    if (!p.started)
      return;
    auto& row = subs[{p.consumer.empty() ? "(volatile)" : p.consumer, scope}];
    row.lag += p.lag_events;
    row.parked = std::max(row.parked, p.parked_events);
  };
  if (auto local = rt_.subscriptions())
    for (const auto& p : *local)
      add("local", p);
  std::optional<uint64_t> balances_lag;
  for (const auto& p : node_.subscriptions()) {
    add("cluster", p);
    if (p.consumer == svc_.balances_model && p.started)
      balances_lag = balances_lag.value_or(0) + p.lag_events;
  }
  auto per_sub = [&](const char* name, const char* help, auto value) {
    head(name, help, "gauge");
    for (const auto& [key, row] : subs)
      out << name << "{node=\"" << node << "\",consumer=\""
          << prom_label_value(key.first) << "\",scope=\"" << key.second
          << "\"} " << value(row) << '\n';
  };
  per_sub("annals_subscription_lag_events",
          "Events a subscription has not read past yet (events its filter "
          "skips included, so 0 when caught up): scope local = behind this "
          "node's journal, scope cluster = behind every partition's end as "
          "its owner last reported it (at most about a second old).",
          [](const sub_row& r) { return r.lag; });
  per_sub("annals_subscription_parked_events",
          "Events parked (dead-lettered) for a subscription, waiting for an "
          "operator's replay; cluster-wide cursors never park.",
          [](const sub_row& r) { return r.parked; });
  if (balances_lag)
    gauge("annals_projection_lag_events",
          "Events of all partitions of the cluster that this node's copy of "
          "the bank.balances projection has not read past yet, against each "
          "partition's end as its owner last reported it (at most about a "
          "second old); 0 when caught up. The same as "
          "annals_subscription_lag_events{consumer=\"cluster:bank.balances\"}.",
          static_cast<double>(*balances_lag));
  done(out.str());
}

void cluster_api::healthy(completion<bool> done) {
  auto s = node_.status();
  done(s && !s->current.empty() && s->current.find(s->self) != nullptr);
}

void cluster_api::leave(completion<bool> done) {
  // `node::leave` blocks until the hand-offs are done: not on the caller's
  // (HTTP) thread.
  std::thread{[this, done] {
    auto err = node_.leave();
    if (err)
      done(std::move(err));
    else
      done(true);
  }}.detach();
}

event_line to_event_line(const annals::recorded_event& ev) {
  event_line out;
  out.revision = ev.rev;
  out.type = ev.type;
  out.data_json = event_json(ev);
  out.timestamp_ns = ev.timestamp_ns;
  out.meta = ev.meta;
  out.partition = ev.partition;
  out.position = ev.pos;
  return out;
}

void cluster_api::parked_events(completion<std::vector<parked_line>> done) {
  auto parked = rt_.parked(saga_consumer);
  if (!parked)
    return done(std::move(parked.error()));
  std::vector<parked_line> out;
  out.reserve(parked->size());
  for (auto& p : *parked)
    out.push_back(
      {saga_consumer, annals::to_string(p.stream), p.rev, p.pos, p.reason});
  done(std::move(out));
}

void cluster_api::replay_parked(completion<replay_outcome> done) {
  // `replay_parked` blocks on the saga: not on the caller's (HTTP) thread.
  std::thread{[this, done] {
    auto handled = svc_.saga.replay_parked();
    if (!handled)
      return done(std::move(handled.error()));
    auto left = rt_.parked(saga_consumer);
    if (!left)
      return done(std::move(left.error()));
    done(replay_outcome{*handled, left->size()});
  }}.detach();
}

std::string event_json(const annals::recorded_event& ev) {
  using variant = annals::tl_variant_t<account::events>;
  variant v;
  if (annals::decode_event<account::events>(
        ev.type, ev.schema_version, ev.payload.data(), ev.payload.size(), v))
    return "{}";
  json j = json::object();
  std::visit(
    [&](const auto& e) {
      using E = std::decay_t<decltype(e)>;
      if constexpr (std::is_same_v<E, account_opened>) {
        j = {{"owner", e.owner}, {"credit_limit", e.credit_limit}};
      } else if constexpr (
        std::is_same_v<
          E, account_credited> || std::is_same_v<E, account_debited>) {
        j = {{"amount", e.amount}, {"balance", e.balance}};
        if (!e.transfer_id.empty())
          j["transfer_id"] = e.transfer_id;
      } else if constexpr (std::is_same_v<E, credit_limit_changed>) {
        j = {{"credit_limit", e.credit_limit}};
      }
    },
    v);
  return j.dump();
}

} // namespace bank
