// annals -- event-sourced aggregates on the C++ Actor Framework.
#include "journal_writer.hpp"

#include "annals/errc.hpp"
#include "annals/failpoint.hpp"
#include "annals/log.hpp"
#include "annals/render.hpp"
#include "annals/runtime_types.hpp"
#include "annals/subscription.hpp"

#include <caf/after.hpp>
#include <caf/event_based_actor.hpp>

#include <algorithm>
#include <chrono>
#include <deque>
#include <unordered_map>
#include <vector>

namespace annals::detail {

namespace {

void record_commit(runtime_metrics& m, std::chrono::nanoseconds took,
                   std::size_t appends) {
  ++m.commits;
  auto ms = std::chrono::duration<double, std::milli>(took).count();
  std::size_t i = 0;
  while (i < std::size(commit_latency_bounds_ms)
         && ms > commit_latency_bounds_ms[i])
    ++i;
  ++m.commit_latency[i];
  m.commit_latency_sum_us += static_cast<uint64_t>(ms * 1000);
  if (appends == 0)
    return;
  std::size_t j = 0;
  while (j < std::size(batch_size_bounds)
         && static_cast<double>(appends) > batch_size_bounds[j])
    ++j;
  ++m.batch_sizes[j];
}

} // namespace

void journal_writer(caf::blocking_actor* self, context_ptr ctx) {
  bool running = true;
  write_batch batch;
  std::vector<caf::response_promise> promises;
  std::vector<caf::response_promise> extra; // commit requests (no appends)
  std::vector<partition_id> touched;
  auto max_batch = std::max<std::size_t>(1, ctx->cfg.max_batch);
  // Replication (see `runtime::enable_replication`): the replicator, and per
  // partition the highest epoch whose leadership this node lost.
  caf::actor replicator;
  std::unordered_map<partition_id, uint64_t> lost_epochs;
  auto on_append = [&](append_atom, append_request& req) {
    if (replicator) {
      // Only a serving leader writes a replicated partition: its epoch is
      // set, and newer than any leadership this node lost.
      auto p = partition_of(req.stream, ctx->store->partition_count());
      auto lost = lost_epochs.find(p);
      if (req.epoch == 0
          || (lost != lost_epochs.end() && req.epoch <= lost->second)) {
        self->make_response_promise().deliver(
          make_error(errc::unavailable, "this node does not lead partition "
                                          + std::to_string(p) + " (epoch "
                                          + std::to_string(req.epoch) + ")"));
        return;
      }
    }
    promises.push_back(self->make_response_promise());
    batch.appends.push_back(std::move(req));
  };
  auto on_snapshot = [&](snapshot_atom, snapshot& s) {
    batch.snapshots.push_back(std::move(s));
  };
  auto on_commit = [&](commit_atom, write_batch& wb) {
    extra.push_back(self->make_response_promise());
    for (auto& x : wb.checkpoints)
      batch.checkpoints.push_back(std::move(x));
    for (auto& x : wb.models)
      batch.models.push_back(std::move(x));
    for (auto& x : wb.snapshots)
      batch.snapshots.push_back(std::move(x));
  };
  // Imports (hand-off) commit on their own after the group: their result
  // goes back whole and their partitions wake the cursors.
  std::vector<std::pair<write_batch, caf::response_promise>> imports;
  auto on_import = [&](import_atom, write_batch& wb) {
    imports.emplace_back(std::move(wb), self->make_response_promise());
  };
  auto on_exit = [&](caf::exit_msg&) { running = false; };
  // The runtime stops (see `runtime::shutdown`): replies no longer wait for
  // a replicator that may be gone, or nobody would ever answer them.
  bool closing = false;
  // Replication: a committed append's reply waits until its partition's
  // high watermark covers it (a majority of replicas hold it durably).
  struct held_reply {
    position last = 0;
    uint64_t epoch = 0;
    caf::response_promise rp;
    append_result res;
  };
  std::unordered_map<partition_id, std::deque<held_reply>> held;
  std::unordered_map<partition_id, std::pair<uint64_t, position>> released;
  auto unknown = [](held_reply& h, const char* why) {
    h.rp.deliver(make_error(
      errc::outcome_unknown,
      std::string{why} + " before partition " + std::to_string(h.res.partition)
        + " replicated position " + std::to_string(h.last)));
  };
  auto on_replicator
    = [&](replicator_atom, caf::actor& a) { replicator = std::move(a); };
  auto release = [&](partition_id p, uint64_t epoch, position hw) {
    auto& r = released[p];
    if (epoch > r.first || (epoch == r.first && hw > r.second))
      r = {epoch, hw};
    auto it = held.find(p);
    if (it == held.end())
      return;
    auto& q = it->second;
    while (!q.empty()) {
      auto& h = q.front();
      if (h.epoch < epoch) {
        unknown(h, "leadership changed");
      } else if (h.epoch == epoch && h.last <= hw) {
        h.rp.deliver(std::move(h.res));
      } else {
        break;
      }
      q.pop_front();
    }
  };
  auto on_released = [&](released_atom, const std::vector<committed_end>& hws) {
    for (const auto& x : hws)
      release(x.partition, x.epoch, x.end);
  };
  // A retried command found in the journal: its original reply may not
  // have been released yet (this node leads again after a leadership
  // change and the entry is above the high watermark). It waits like one.
  auto on_replicated
    = [&](replicated_atom, append_result& res, uint64_t epoch) {
        auto rp = self->make_response_promise();
        auto p = res.partition;
        auto rel = released.find(p);
        auto lost = lost_epochs.find(p);
        held_reply h{res.last_position, epoch, rp, res};
        if (!replicator
            || (rel != released.end() && rel->second.first == epoch
                && rel->second.second >= res.last_position)) {
          rp.deliver(std::move(res));
        } else if (closing) {
          unknown(h, "the runtime stopped");
        } else if ((rel != released.end() && rel->second.first > epoch)
                   || (lost != lost_epochs.end() && lost->second >= epoch)) {
          unknown(h, "leadership changed");
        } else {
          held[p].push_back(std::move(h));
        }
      };
  auto on_closing = [&](stop_atom) {
    closing = true;
    for (auto& [p, q] : held)
      for (auto& h : q)
        unknown(h, "the runtime stopped");
    held.clear();
  };
  auto on_carried
    = [&](carried_atom, partition_id p, uint64_t from, uint64_t to) {
        auto& lost = lost_epochs[p];
        lost = std::max(lost, from);
        auto it = held.find(p);
        if (it == held.end())
          return;
        for (auto& h : it->second)
          if (h.epoch <= from)
            h.epoch = to;
      };
  auto on_lost = [&](lost_atom, partition_id p, uint64_t epoch) {
    auto& lost = lost_epochs[p];
    lost = std::max(lost, epoch);
    auto it = held.find(p);
    if (it == held.end())
      return;
    auto& q = it->second;
    auto keep = std::remove_if(q.begin(), q.end(), [&](held_reply& h) {
      if (h.epoch > epoch)
        return false;
      unknown(h, "leadership lost");
      return true;
    });
    q.erase(keep, q.end());
  };
  // Publish from the journal: wake the cursors of the partitions a commit
  // appended to, once its events are durable and readable.
  auto wake = [&](std::vector<partition_id>& parts) {
    if (parts.empty() || !ctx->broker)
      return;
    std::sort(parts.begin(), parts.end());
    parts.erase(std::unique(parts.begin(), parts.end()), parts.end());
    self->send(ctx->broker, wake_atom::value, parts);
  };
  auto commit_imports = [&] {
    for (auto& [wb, rp] : imports) {
      auto res = ctx->store->commit(wb);
      ++ctx->metrics.commits;
      if (!res) {
        rp.deliver(res.error());
        continue;
      }
      std::vector<partition_id> parts;
      for (auto& part : res->appends)
        if (part && !part->duplicate)
          parts.push_back(part->partition);
      wake(parts);
      rp.deliver(std::move(*res));
    }
    imports.clear();
  };
  while (running) {
    self->receive(on_append, on_snapshot, on_commit, on_import, on_exit,
                  on_replicator, on_released, on_lost, on_replicated,
                  on_carried, on_closing);
    bool more = true;
    while (more && running && batch.appends.size() < max_batch)
      self->receive(
        on_append, on_snapshot, on_commit, on_import, on_exit, on_replicator,
        on_released, on_lost, on_replicated, on_carried, on_closing,
        caf::after(std::chrono::seconds(0)) >> [&] { more = false; });
    if (!imports.empty() && batch.appends.empty() && batch.snapshots.empty()
        && batch.checkpoints.empty() && batch.models.empty()) {
      commit_imports();
      continue;
    }
    if (batch.appends.empty() && batch.snapshots.empty()
        && batch.checkpoints.empty() && batch.models.empty())
      continue;
    ANNALS_CRASH_POINT_IF(!batch.snapshots.empty(),
                          "annals/snapshot/before_save");
    auto t0 = std::chrono::steady_clock::now();
    auto res = ctx->store->commit(batch);
    record_commit(ctx->metrics, std::chrono::steady_clock::now() - t0,
                  batch.appends.size());
    if (!res) {
      log(log_level::error, "group commit of " + std::to_string(promises.size())
                              + " appends failed: " + render(res.error()));
      for (auto& rp : promises)
        rp.deliver(res.error());
      for (auto& rp : extra)
        rp.deliver(res.error());
    } else {
      // Durable, and nobody knows yet: no reply, no wake-up.
      ANNALS_CRASH_POINT("annals/writer/after_commit");
      ANNALS_CRASH_POINT_IF(!batch.snapshots.empty(),
                            "annals/snapshot/after_save");
      ctx->metrics.appends += promises.size();
      touched.clear();
      for (std::size_t i = 0; i < promises.size(); ++i) {
        auto& part = res->appends[i];
        if (!part) {
          promises[i].deliver(std::move(part.error()));
          continue;
        }
        if (!part->duplicate)
          touched.push_back(part->partition);
        auto epoch = batch.appends[i].epoch;
        if (!replicator || epoch == 0) {
          promises[i].deliver(std::move(*part));
          continue;
        }
        auto p = part->partition;
        if (auto lost = lost_epochs.find(p);
            closing || (lost != lost_epochs.end() && epoch <= lost->second)) {
          held_reply h{part->last_position, epoch, std::move(promises[i]),
                       std::move(*part)};
          unknown(h, closing ? "the runtime stopped" : "leadership lost");
          continue;
        }
        auto& q = held[p];
        auto r = released.find(p);
        if (q.empty() && r != released.end() && r->second.first == epoch
            && r->second.second >= part->last_position) {
          promises[i].deliver(std::move(*part)); // a duplicate, replicated
          continue;
        }
        q.push_back({part->last_position, epoch, std::move(promises[i]),
                     std::move(*part)});
      }
      for (auto& rp : extra)
        rp.deliver(caf::ok_atom::value);
      if (replicator) {
        // Readers wake when the replicator makes the events visible.
        std::vector<committed_end> ends;
        for (std::size_t i = 0; i < res->appends.size(); ++i) {
          const auto& part = res->appends[i];
          if (!part || part->duplicate)
            continue;
          auto it = std::find_if(ends.begin(), ends.end(), [&](auto& e) {
            return e.partition == part->partition;
          });
          if (it == ends.end())
            it = ends.insert(ends.end(), {part->partition, 0, 0});
          it->end = std::max(it->end, part->last_position);
          it->epoch = std::max(it->epoch, batch.appends[i].epoch);
        }
        if (!ends.empty())
          self->send(replicator, committed_atom::value, std::move(ends));
      } else {
        wake(touched);
      }
    }
    batch.appends.clear();
    batch.snapshots.clear();
    batch.checkpoints.clear();
    batch.models.clear();
    promises.clear();
    extra.clear();
    commit_imports();
  }
  for (auto& [p, q] : held)
    for (auto& h : q)
      unknown(h, "the runtime stopped");
}

caf::behavior recovery_gate(caf::event_based_actor* self, std::size_t permits) {
  struct state {
    std::size_t available;
    std::deque<std::pair<caf::response_promise, caf::actor_addr>> queue;
    std::unordered_map<caf::actor_addr, std::size_t> holders;
  };
  auto st = std::make_shared<state>();
  st->available = std::max<std::size_t>(1, permits);
  auto grant
    = [self, st](caf::response_promise& rp, const caf::actor_addr& who) {
        --st->available;
        if (st->holders[who]++ == 0)
          self->monitor(who);
        rp.deliver(caf::ok_atom::value);
      };
  auto give_back = [st, grant](const caf::actor_addr& who, std::size_t n) {
    auto it = st->holders.find(who);
    if (it == st->holders.end())
      return;
    n = std::min(n, it->second);
    it->second -= n;
    if (it->second == 0)
      st->holders.erase(it);
    st->available += n;
    while (st->available > 0 && !st->queue.empty()) {
      auto [rp, w] = std::move(st->queue.front());
      st->queue.pop_front();
      grant(rp, w);
    }
  };
  self->set_down_handler(
    [give_back](caf::down_msg& dm) { give_back(dm.source, ~std::size_t{0}); });
  // The queued promises hold this actor strongly, and the down handler above
  // outlives the actor's termination: drop them when it terminates.
  self->attach_functor([st] {
    st->queue.clear();
    st->holders.clear();
  });
  return {
    [self, st, grant](acquire_atom) {
      // Read the sender first: make_response_promise takes it over.
      auto who = caf::actor_cast<caf::actor_addr>(self->current_sender());
      auto rp = self->make_response_promise();
      if (st->available > 0)
        grant(rp, who);
      else
        st->queue.emplace_back(rp, who);
      return rp;
    },
    [self, give_back](release_atom) {
      give_back(caf::actor_cast<caf::actor_addr>(self->current_sender()), 1);
    },
  };
}

} // namespace annals::detail
