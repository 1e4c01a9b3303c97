// annals -- event-sourced aggregates on the C++ Actor Framework.
// Part of the runtime module (internal): one live aggregate instance.
//
// # Operation
// An aggregate actor is spawned by its host on the first command for its id.
// It asks the recovery gate for a permit, loads the latest snapshot (if
// usable) and replays the events after it; commands that arrive meanwhile
// wait in arrival order. Then, for each command in order:
//   decide (handle) -> append to the journal writer -> apply tentatively ->
//   reply once the commit succeeded.
// Pipelining: while one command's events are being committed the next
// command is decided against the tentative state. Every reply (acks,
// rejections and query answers alike) is released strictly in arrival order
// and only after all commits before it succeeded, so no reply reflects a
// state that might not become durable.
//
// # Failure
// Each append carries the expected revision `exactly(tentative revision)`,
// so if one commit fails every later pipelined append fails its revision
// check: nothing after a failure can become visible. On a failed commit the
// failed command and every later one get a definite error, and the actor
// recovers from the journal before deciding anything else (Akka's rule:
// resuming would guess whether the event exists).
//
// # Shutdown
// On an exit message (the runtime stops, through the host) the actor answers
// the commands it has not decided with `errc::unavailable`, waits for the
// writer's replies to the appends in flight (the writer runs until every
// aggregate is gone), releases those replies, and quits.
//
// # Concurrency
// Actor-confined. Reads the journal directly (thread-safe LMDB readers);
// all writes go through the single journal writer.
#pragma once

#include "annals/aggregate.hpp"
#include "annals/codec.hpp"
#include "annals/command.hpp"
#include "annals/detail/runtime_context.hpp"
#include "annals/errc.hpp"
#include "annals/log.hpp"
#include "annals/persistence/errc.hpp"
#include "annals/persistence/planted_bugs.hpp"
#include "annals/render.hpp"
#include "annals/runtime_types.hpp"

#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

#include <chrono>
#include <deque>
#include <string>
#include <unordered_map>
#include <vector>

namespace annals::detail {

/// What a command that the runtime's shutdown kept from running gets.
inline caf::error runtime_stopped_error(const std::string& where) {
  return make_error(errc::unavailable, "the runtime stopped before the "
                                       "command ran on "
                                         + where + "; nothing was written");
}

/// Runs `f(command)` for the type in `msg` that is one of `Cs`; false if
/// none matches.
template <class F, class... Cs>
bool dispatch_command(const caf::message& msg, F&& f, type_list<Cs...>) {
  return ((msg.match_elements<Cs>() ? (f(msg.get_as<Cs>(0)), true) : false)
          || ...);
}

/// The stable schema version of `A`'s snapshot encoding.
template <class A>
constexpr uint32_t snapshot_version_of() noexcept {
  if constexpr (requires { A::snapshot_version; })
    return A::snapshot_version;
  else
    return 1;
}

template <class A>
struct aggregate_state {
  static inline const char* name = "annals.aggregate";

  // Not an aggregate: CAF 0.17 constructs a state from the actor pointer
  // when it can, which C++20 parenthesised aggregate init would allow.
  aggregate_state() = default;

  /// One command between arrival and reply.
  struct entry {
    uint64_t seq = 0;
    caf::response_promise rp;
    /// Reply `routed_reply` instead of the bare reply (cluster relays).
    bool boxed = false;
    /// Retries of the same command id that arrived while it was in flight
    /// (with their own `boxed`).
    std::vector<std::pair<caf::response_promise, bool>> retries;
    std::string command_id;
    bool done = false;
    caf::message reply;
    caf::error error;
  };

  /// A command that arrived while the actor could not decide yet.
  struct waiting {
    command_envelope env;
    caf::response_promise rp;
  };

  A agg;
  stream_id stream;
  context_ptr ctx;
  host_options opts;
  caf::actor host;

  bool ready = false;    ///< recovered
  bool stopping = false; ///< host asked us to stop once drained
  bool failed = false;   ///< a commit failed; replying errors, then quit
  bool exiting = false;  ///< the runtime stops: drain the pipeline, quit
  caf::error exit_reason;
  revision rev = 0;       ///< tentative: includes in-flight events
  revision committed = 0; ///< durable
  revision snapshot_rev = 0;

  std::deque<waiting> waiting_list;
  std::deque<entry> pipeline;
  uint64_t next_seq = 1;
  std::unordered_map<std::string, uint64_t> in_flight_ids;
};

template <class A>
class aggregate_logic {
public:
  using actor_type = caf::stateful_actor<aggregate_state<A>>;
  using event_variant = tl_variant_t<typename A::events>;

  explicit aggregate_logic(actor_type* self) : self_(self) {
  }

  // -- arrival ----------------------------------------------------------------

  caf::response_promise on_command(command_envelope& env) {
    auto& st = self_->state;
    auto rp = self_->make_response_promise();
    if (st.exiting) {
      rp.deliver(runtime_stopped_error(to_string(st.stream)));
      return rp;
    }
    if (!st.ready || st.failed || barrier()) {
      st.waiting_list.push_back({std::move(env), rp});
      return rp;
    }
    decide(env, rp);
    release();
    return rp;
  }

  // -- recovery ---------------------------------------------------------------

  void request_permit() {
    auto& st = self_->state;
    self_->request(st.ctx->gate, caf::infinite, acquire_atom::value)
      .then([this](caf::ok_atom) { recover(); },
            [this](caf::error& err) {
              fail_for_good(make_error(errc::recovery_failed,
                                       "no recovery permit: " + render(err)));
            });
  }

  void recover() {
    auto& st = self_->state;
    auto& m = st.ctx->metrics;
    auto active = ++m.active_recoveries;
    auto seen = m.max_active_recoveries.load();
    while (active > seen
           && !m.max_active_recoveries.compare_exchange_weak(seen, active)) {
    }
    A fresh;
    revision at = 0;
    if constexpr (snapshottable_v<A>)
      at = load_snapshot(fresh);
    st.snapshot_rev = at;
    caf::error err;
    uint64_t replayed = 0;
    auto scan_err
      = st.ctx->store->scan_stream(st.stream, at + 1, [&](const event_view& v) {
          if (v.rev != at + 1) {
            err = make_error(errc::recovery_failed,
                             "stream " + to_string(st.stream) + ": revision "
                               + std::to_string(v.rev) + " follows "
                               + std::to_string(at));
            return false;
          }
          event_variant ev;
          if (auto derr = decode_event<typename A::events>(
                v.type, v.schema_version, v.payload, v.payload_size, ev)) {
            err = make_error(errc::recovery_failed,
                             "stream " + to_string(st.stream) + " revision "
                               + std::to_string(v.rev) + ": " + render(derr));
            return false;
          }
          apply_event(fresh, ev);
          at = v.rev;
          ++replayed;
          return true;
        });
    --m.active_recoveries;
    self_->send(st.ctx->gate, release_atom::value);
    if (!err && scan_err)
      err = make_error(errc::recovery_failed, render(scan_err));
    if (err) {
      log(log_level::error, render(err));
      fail_for_good(err);
      return;
    }
    ++m.recoveries;
    m.replayed_events += replayed;
    st.agg = std::move(fresh);
    st.rev = st.committed = at;
    st.ready = true;
    drain_waiting();
  }

  /// Loads the newest usable snapshot into `out`; returns its revision, or
  /// 0 (and leaves `out` fresh) to replay from the start.
  revision load_snapshot(A& out) {
    auto& st = self_->state;
    auto snap = st.ctx->store->load_snapshot(st.stream);
    auto fallback = [&](const std::string& why) {
      ++st.ctx->metrics.snapshot_fallbacks;
      log(log_level::warning, "snapshot of " + to_string(st.stream)
                                + " unusable, replaying all events: " + why);
      out = A{};
      return revision{0};
    };
    if (!snap)
      return fallback(render(snap.error()));
    if (!*snap)
      return 0;
    const auto& s = **snap;
    if (s.schema_version != snapshot_version_of<A>())
      return fallback("schema version " + std::to_string(s.schema_version)
                      + ", this build reads "
                      + std::to_string(snapshot_version_of<A>()));
    if (auto err = decode(s.payload.data(), s.payload.size(), out, "snapshot"))
      return fallback(render(err));
    return s.rev;
  }

  // -- deciding ---------------------------------------------------------------

  void decide(command_envelope& env, caf::response_promise& rp) {
    auto& st = self_->state;
    auto& e = push_entry(rp, env.command_id);
    e.boxed = env.boxed_reply;
    auto fail = [&](caf::error err) {
      e.done = true;
      e.error = std::move(err);
    };
    auto matched = dispatch_command(
      env.command,
      [&](const auto& cmd) {
        using C = std::decay_t<decltype(cmd)>;
        if constexpr (is_deciding_v<A, C>)
          decide_one(env, cmd, e, fail);
        else
          answer(cmd, e, fail);
      },
      typename A::commands{});
    if (!matched)
      fail(make_error(errc::unknown_command,
                      "aggregate " + std::string{A::category}
                        + " has no command " + to_string(env.command)));
    (void)st;
  }

  template <class C>
  void answer(const C& q, typename aggregate_state<A>::entry& e,
              const std::function<void(caf::error)>& fail) {
    try {
      const auto& st = self_->state;
      e.reply
        = caf::make_message(invoke_handle(st.agg, q, command_context{st.rev}));
      e.done = true;
    } catch (const std::exception& ex) {
      fail(make_error(errc::handler_failed, ex.what()));
    }
  }

  template <class C>
  void decide_one(command_envelope& env, const C& cmd,
                  typename aggregate_state<A>::entry& e,
                  const std::function<void(caf::error)>& fail) {
    auto& st = self_->state;
    // Idempotency: a retry of a command still in flight joins it; a retry of
    // a committed one gets the original result from the journal.
    if (!env.command_id.empty()) {
      if (auto it = st.in_flight_ids.find(env.command_id);
          it != st.in_flight_ids.end() && it->second != e.seq) {
        auto& orig = entry_at(it->second);
        orig.retries.emplace_back(e.rp, env.boxed_reply);
        e.rp = caf::response_promise{};
        e.done = true; // an empty slot: nothing to release
        return;
      }
      auto found = st.ctx->store->find_command(st.stream, env.command_id);
      if (!found)
        return fail(make_error(errc::unavailable, render(found.error())));
      if (*found) {
        const auto& r = **found;
        ack original{
          r.first_revision, r.last_revision,
          static_cast<uint32_t>(r.last_revision - r.first_revision + 1), true};
        if (st.ctx->visible_end(r.partition) >= r.last_position) {
          e.reply = caf::make_message(original);
          e.done = true;
          return;
        }
        // In the journal but not yet on a majority (this node leads again
        // after a leadership change): acknowledged only once replicated.
        auto seq = e.seq;
        st.in_flight_ids.emplace(env.command_id, seq);
        self_
          ->request(st.ctx->writer, caf::infinite, replicated_atom::value, r,
                    st.ctx->epoch_of(st.stream))
          .then(
            [this, seq, original](append_result&) {
              on_replicated(seq, caf::make_message(original), {});
            },
            [this, seq](caf::error& err) {
              on_replicated(seq, caf::message{}, err);
            });
        return;
      }
    }
    if (env.expected_kind != 0) {
      auto exp = expected_of(env);
      if (!exp.admits(st.rev))
        return fail(make_error(errc::wrong_expected_revision,
                               "stream " + to_string(st.stream)
                                 + ": expected revision " + to_string(exp)
                                 + ", actual " + std::to_string(st.rev)));
    }
    decision<A> d;
    try {
      d = invoke_handle(st.agg, cmd, command_context{st.rev});
    } catch (const std::exception& ex) {
      return fail(make_error(errc::handler_failed, ex.what()));
    }
    if (d.rejected())
      return fail(d.reason());
    if (d.events().empty()) {
      e.reply = caf::make_message(ack{0, st.rev, 0, false});
      e.done = true;
      return;
    }
    append_request req;
    req.stream = st.stream;
    req.expected = expected_revision::exactly(st.rev);
    req.command_id = env.command_id;
    req.epoch = st.ctx->epoch_of(st.stream);
    req.events.reserve(d.events().size());
    for (const auto& ev : d.events()) {
      event_data data;
      data.type = std::string{event_type_name(ev)};
      data.schema_version = event_schema_version(ev);
      data.correlation_id = env.correlation_id;
      data.causation_id = env.causation_id;
      data.payload = encode_event(ev);
      req.events.push_back(std::move(data));
    }
    // Tentative: later commands are decided against this state.
    for (const auto& ev : d.events())
      apply_event(st.agg, ev);
    auto first = st.rev + 1;
    st.rev += d.events().size();
    auto seq = e.seq;
    auto n = static_cast<uint32_t>(d.events().size());
#ifdef ANNALS_PLANTED_BUGS
    if (planted::bug("reply_before_commit")) {
      // The bug: the ack leaves before the commit; nothing waits for it.
      e.reply = caf::make_message(ack{first, first + n - 1, n, false});
      e.done = true;
      self_
        ->request(st.ctx->writer, caf::infinite, append_atom::value,
                  std::move(req))
        .then([](append_result&) {}, [](caf::error&) {});
      return;
    }
#endif
    if (!env.command_id.empty())
      st.in_flight_ids.emplace(env.command_id, e.seq);
    self_
      ->request(st.ctx->writer, caf::infinite, append_atom::value,
                std::move(req))
      .then([this, seq, first,
             n](append_result& res) { on_committed(seq, first, n, res); },
            [this, seq](caf::error& err) { on_commit_failed(seq, err); });
  }

  static expected_revision expected_of(const command_envelope& env) {
    switch (env.expected_kind) {
    case 1:
      return expected_revision::no_stream();
    case 2:
      return expected_revision::stream_exists();
    case 3:
      return expected_revision::exactly(env.expected_revision);
    default:
      return expected_revision::any();
    }
  }

  // -- committing -------------------------------------------------------------

  void on_committed(uint64_t seq, revision first, uint32_t n,
                    const append_result& res) {
    auto& st = self_->state;
    if (st.failed || !has_entry(seq))
      return;
    auto& e = entry_at(seq);
    if (res.duplicate) {
      // Only possible if another writer reached this stream: our tentative
      // state is wrong. Reply the original, fail the rest, recover.
      e.reply = caf::make_message(
        ack{res.first_revision, res.last_revision,
            static_cast<uint32_t>(res.last_revision - res.first_revision + 1),
            true});
      e.done = true;
      fail_from(seq + 1, make_error(errc::not_persisted,
                                    "stream " + to_string(st.stream)
                                      + " changed under this aggregate"));
      return;
    }
    st.committed = first + n - 1;
    e.reply = caf::make_message(ack{first, first + n - 1, n, false});
    e.done = true;
    if (!e.command_id.empty())
      st.in_flight_ids.erase(e.command_id);
    release();
  }

  /// The original reply of a retried command, once replicated (or the
  /// error that ended the wait: `outcome_unknown`).
  void on_replicated(uint64_t seq, caf::message reply, caf::error err) {
    auto& st = self_->state;
    if (st.failed || !has_entry(seq))
      return;
    auto& e = entry_at(seq);
    if (!e.command_id.empty())
      st.in_flight_ids.erase(e.command_id);
    e.done = true;
    e.reply = std::move(reply);
    e.error = std::move(err);
    release();
  }

  void on_commit_failed(uint64_t seq, const caf::error& err) {
    auto& st = self_->state;
    if (st.failed || !has_entry(seq))
      return;
    if (!st.exiting || !is(err, errc::outcome_unknown)) {
      // (Not a failure: a reply held for replication when the runtime
      // stopped.)
      ++st.ctx->metrics.storage_failures;
      log(log_level::warning,
          "commit for " + to_string(st.stream)
            + " failed, restarting from the journal: " + render(err));
    }
    entry_at(seq).done = true;
    if (is(err, errc::outcome_unknown)) {
      // Committed here, but its replication ended with a leadership change:
      // it may or may not survive, and so may the commands after it.
      entry_at(seq).error = err;
      fail_from(seq + 1,
                make_error(errc::outcome_unknown,
                           "an earlier command on " + to_string(st.stream)
                             + " has an unknown outcome"));
      return;
    }
    if (is(err, journal_errc::stale_epoch)) {
      // The partition's epoch moved past this node's writer (another
      // leader, or this one appointed again): the journal wrote nothing.
      // Not a storage failure: a retry reaches the leader of the new epoch.
      entry_at(seq).error = make_error(
        errc::unavailable, "stream " + to_string(st.stream)
                             + ": the partition's leader changed, nothing "
                               "was written; retry ("
                             + render(err) + ")");
      fail_from(seq + 1,
                make_error(errc::unavailable,
                           "an earlier command on " + to_string(st.stream)
                             + " met a leader change; retry"));
      return;
    }
    entry_at(seq).error
      = make_error(errc::not_persisted,
                   "stream " + to_string(st.stream) + ": " + render(err));
    fail_from(seq + 1,
              make_error(errc::not_persisted, "an earlier command on "
                                                + to_string(st.stream)
                                                + " failed to commit"));
  }

  /// Fails every entry from `seq` on with `err`, releases all replies, and
  /// restarts in place: the state is recovered from the journal before the
  /// next command is decided (commands arriving meanwhile wait, in order).
  /// Appends of the failed incarnation still queued at the writer cannot
  /// commit: each expects a revision the stream no longer reaches, and the
  /// writer sees them before any append of the new incarnation (FIFO).
  void fail_from(uint64_t seq, const caf::error& err) {
    auto& st = self_->state;
    st.failed = true;
    for (auto& e : st.pipeline) {
      if (e.done && e.seq < seq)
        continue;
      e.done = true;
      e.reply = caf::message{};
      e.error = e.seq >= seq ? err
                             : make_error(errc::outcome_unknown,
                                          "commit outcome of an earlier "
                                          "command is unknown");
    }
    release();
    if (st.exiting)
      return; // quit in `release`
    st.in_flight_ids.clear();
    st.ready = false;
    st.failed = false;
    request_permit();
  }

  // -- releasing replies ------------------------------------------------------

  void release() {
    auto& st = self_->state;
    while (!st.pipeline.empty() && st.pipeline.front().done) {
      auto& e = st.pipeline.front();
      auto deliver = [&](caf::response_promise& rp, bool boxed) {
        if (!rp.pending())
          return;
        if (e.error)
          rp.deliver(e.error);
        else if (boxed)
          rp.deliver(routed_reply{e.reply});
        else
          rp.deliver(e.reply);
      };
      deliver(e.rp, e.boxed);
      for (auto& [r, boxed] : e.retries)
        deliver(r, boxed);
      st.pipeline.pop_front();
    }
    if (st.pipeline.empty() && st.exiting) {
      self_->quit(st.exit_reason);
      return;
    }
    if (st.pipeline.empty() && !st.failed) {
      maybe_snapshot();
      if (!st.waiting_list.empty())
        drain_waiting();
      else if (st.stopping)
        self_->quit();
    }
  }

  // -- snapshots --------------------------------------------------------------

  /// True while new commands must wait so that a snapshot can be taken at a
  /// committed state (a hot aggregate whose pipeline never drains).
  bool barrier() const {
    const auto& st = self_->state;
    return snapshottable_v<A> && st.opts.snapshot_every > 0
           && !st.pipeline.empty()
           && st.rev - st.snapshot_rev >= 2 * st.opts.snapshot_every;
  }

  void maybe_snapshot() {
    if constexpr (snapshottable_v<A>) {
      auto& st = self_->state;
      if (st.opts.snapshot_every == 0
          || st.committed - st.snapshot_rev < st.opts.snapshot_every)
        return;
      snapshot s;
      s.stream = st.stream;
      s.rev = st.committed;
      s.type = std::string{A::category};
      s.schema_version = snapshot_version_of<A>();
      s.payload = encode(st.agg);
      self_->send(st.ctx->writer, snapshot_atom::value, std::move(s));
      st.snapshot_rev = st.committed;
      ++st.ctx->metrics.snapshots_written;
    }
  }

  // -- shutdown ---------------------------------------------------------------

  void on_exit(caf::exit_msg& em) {
    auto& st = self_->state;
    if (st.exiting)
      return;
    st.exiting = true;
    st.exit_reason = std::move(em.reason);
    abort_waiting(runtime_stopped_error(to_string(st.stream)));
    if (st.pipeline.empty())
      self_->quit(st.exit_reason);
  }

  // -- passivation (driven by the host) -------------------------------------

  void on_stop() {
    auto& st = self_->state;
    st.stopping = true;
    if (st.ready && st.pipeline.empty() && st.waiting_list.empty())
      self_->quit();
  }

private:
  typename aggregate_state<A>::entry&
  push_entry(caf::response_promise& rp, const std::string& command_id) {
    auto& st = self_->state;
    typename aggregate_state<A>::entry e;
    e.seq = st.next_seq++;
    e.rp = rp;
    e.command_id = command_id;
    st.pipeline.push_back(std::move(e));
    return st.pipeline.back();
  }

  bool has_entry(uint64_t seq) const {
    const auto& p = self_->state.pipeline;
    return !p.empty() && seq >= p.front().seq && seq <= p.back().seq;
  }

  typename aggregate_state<A>::entry& entry_at(uint64_t seq) {
    auto& p = self_->state.pipeline;
    return p[seq - p.front().seq];
  }

  void drain_waiting() {
    auto& st = self_->state;
    while (!st.waiting_list.empty() && st.ready && !st.failed && !barrier()) {
      auto w = std::move(st.waiting_list.front());
      st.waiting_list.pop_front();
      decide(w.env, w.rp);
    }
    release();
  }

  /// Recovery failed: answers the waiting commands, and every later one,
  /// with `err`, and asks the host to stop it. The host's stop handshake
  /// (it buffers new commands, sends `stop_atom`, respawns on the down
  /// message) means that no command reaches this actor after it quit; a
  /// bare quit would leave commands the host already forwarded to CAF's
  /// `request_receiver_down` instead of the reason.
  void fail_for_good(const caf::error& err) {
    abort_waiting(err);
    auto* self = self_;
    self->become([err](command_envelope&) { return err; },
                 [self](stop_atom) { self->quit(); });
    if (auto& host = self->state.host)
      self->send(host, passivate_atom::value, self->address());
    else
      self->send(self, stop_atom::value);
  }

  void abort_waiting(const caf::error& err) {
    auto& st = self_->state;
    for (auto& w : st.waiting_list)
      if (w.rp.pending())
        w.rp.deliver(err);
    st.waiting_list.clear();
  }

  actor_type* self_;
};

/// The behavior of an aggregate actor for `A`, instance `id`.
template <class A>
caf::behavior aggregate_actor(caf::stateful_actor<aggregate_state<A>>* self,
                              context_ptr ctx, host_options opts,
                              std::string id, caf::actor host) {
  static_assert(check_aggregate<A>());
  auto& st = self->state;
  st.ctx = std::move(ctx);
  st.opts = opts;
  st.host = std::move(host);
  st.stream = stream_id{std::string{A::category}, std::move(id)};
  ++st.ctx->metrics.live_aggregates;
  self->attach_functor([ctx = st.ctx] { --ctx->metrics.live_aggregates; });
  auto logic = std::make_shared<aggregate_logic<A>>(self);
  self->set_exit_handler([logic](caf::exit_msg& em) { logic->on_exit(em); });
  logic->request_permit();
  return {
    [logic](command_envelope& env) { return logic->on_command(env); },
    [logic](stop_atom) { logic->on_stop(); },
  };
}

} // namespace annals::detail
