// annals -- event-sourced aggregates on the C++ Actor Framework.
// Part of the runtime module: subscriptions -- the journal as a broker.
//
// Every event reaches subscribers FROM THE JOURNAL, after its commit: a
// subscription is a cursor (a position per partition, or a revision for a
// single stream) that reads committed events in order and delivers them in
// batches. Commit notifications only wake cursors up; they carry no events.
// So there is no separate "live" path that could diverge from "catch-up":
// a new subscriber, one that fell behind and one that is up to date all read
// the same log, and the switch between reading old events and new ones has
// no gap and no duplicate by construction. A crash between commit and
// delivery loses nothing: the cursor reads the event after the restart.
//
// Order: strict per stream (by revision) and per partition (by position).
// NO order is promised across partitions (hence across streams of different
// partitions): two events of different partitions may arrive in either
// order, whatever their commit order.
//
// Delivery is at-least-once: a batch is re-delivered until acknowledged, and
// a durable consumer resumes after its last checkpoint, which may repeat the
// events acknowledged after that checkpoint. One batch is in flight per
// subscription: a slow subscriber slows its own cursor, nothing is buffered
// for it, and its memory is bounded by one batch.
#pragma once

#include "annals/persistence/batch.hpp"
#include "annals/persistence/event.hpp"
#include "annals/persistence/journal.hpp"
#include "annals/persistence/stream.hpp"

#include <caf/actor.hpp>
#include <caf/atom.hpp>
#include <caf/error.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace annals {

/// Which events a subscription sees. `all` skips system streams (categories
/// starting with '$', e.g. replication's epoch markers); name a system
/// category or stream explicitly to see it.
struct subscription_filter {
  enum class kind : uint8_t { all, category, stream };
  kind what = kind::all;
  std::string category;
  std::string id;

  static subscription_filter all() {
    return {};
  }
  static subscription_filter of_category(std::string category) {
    return {kind::category, std::move(category), {}};
  }
  static subscription_filter of_stream(stream_id s) {
    return {kind::stream, std::move(s.category), std::move(s.id)};
  }
  bool matches(const event_view& ev) const noexcept;
};

/// Where a subscription starts.
enum class start_from : uint8_t {
  beginning, ///< every stored event
  now,       ///< only events committed after subscribing
  checkpoint ///< a durable consumer's stored positions (beginning if none)
};

/// Settings of one subscription.
struct subscription_options {
  subscription_filter filter;
  start_from start = start_from::beginning;
  /// For `start_from::beginning` with explicit positions: the position
  /// after which to start in each partition (empty = all zero); for a
  /// stream subscription, `from_revision` instead.
  std::vector<position> from_positions;
  revision from_revision = 1;
  /// Durable consumer name; empty = a volatile subscription. A durable
  /// consumer checkpoints its positions in the journal and parks poison
  /// events there.
  std::string consumer;
  /// Most events per delivered batch.
  std::size_t batch_size = 256;
  /// Checkpoint after this many acknowledged events (durable consumers).
  std::size_t checkpoint_every = 1000;
  /// Deliveries of an event that fails deterministically (`batch_done`
  /// without `transient`) before it, and every later event of its stream,
  /// is parked. Transient failures never count: they are retried forever.
  uint32_t max_attempts = 3;
  /// Delay before redelivering after a failure: `retry_backoff` after the
  /// first, doubling per consecutive failure up to `max_retry_backoff`
  /// (with up to 25 % random jitter).
  std::chrono::milliseconds retry_backoff{25};
  std::chrono::milliseconds max_retry_backoff{2000};
  /// Consumer group: instances with the same `consumer` name and `group`
  /// set split the partitions between them.
  bool group = false;
  /// Set by projections, which commit their checkpoints together with their
  /// read model: the subscription then only reads checkpoints.
  bool checkpoint_by_handler = false;
  /// Replication: deliver only the partitions this node leads
  /// (`runtime::leads`); each other partition waits at its checkpoint and
  /// resumes from there once this node leads it. For process managers (a
  /// saga) that must run once per cluster, not once per replica of its
  /// events. Without replication every partition is led.
  bool leading_only = false;
};

/// What a subscriber actor receives, as a request: the events, in order.
/// Reply with `batch_done{n}`: the first `n` events were handled; `n <
/// events.size()` means event `n` failed: it is redelivered after a backoff,
/// forever if the failure is `transient`, else up to `max_attempts` times
/// and then parked.
struct event_batch {
  uint64_t subscription = 0;
  std::vector<recorded_event> events;
};

struct batch_done {
  uint32_t handled = 0;
  /// Why event `handled` failed (logged and stored with a parked event).
  std::string error;
  /// The failure may go away by itself (an owner unreachable, a timeout, a
  /// full disk): retry with backoff, never park. Set it from
  /// `is_transient(err)`.
  bool transient = false;
};

/// True if `err` says that retrying the same request later may succeed:
/// `annals::errc::unavailable`, `outcome_unknown`, `not_persisted` and
/// `wrong_expected_revision`; the journal's fatal, full, locked, stale-epoch
/// and conflict errors; CAF's timeouts, lost receivers and connection
/// errors. False for deterministic failures that a retry repeats: a
/// rejection of the user's own category, undecodable bytes, unknown types
/// or commands, a handler that throws, corrupt records.
bool is_transient(const caf::error& err) noexcept;

/// A parked (dead-lettered) event of a durable consumer.
struct parked_event {
  stream_id stream;
  revision rev = 0;
  position pos = 0;
  std::string reason;
};

/// How far one subscription is behind, at the moment it was asked
/// (`runtime::subscriptions`, `cluster::node::subscriptions`).
struct subscription_progress {
  /// The runtime's subscription id; 0 for a cluster-wide cursor.
  uint64_t id = 0;
  /// The durable consumer or projection name; empty for a volatile
  /// subscription.
  std::string consumer;
  /// Events after the subscription's position in the partitions it reads:
  /// every event counts until the cursor has read past it, whether its
  /// filter takes it or not, so a caught-up subscription shows 0.
  uint64_t lag_events = 0;
  /// Events parked (dead-lettered) for this subscription; for a durable
  /// consumer the rows stored in the journal (shared by a group's members).
  uint64_t parked_events = 0;
  /// False until the cursor has read its start positions (then the lag is
  /// not known yet and reported as 0).
  bool started = false;
};

/// A handler for the callback form: return an error to refuse the event.
using event_handler = std::function<caf::error(const recorded_event&)>;

/// What a projection handler writes: rows of its read model, committed in
/// the same transaction as the projection's checkpoint. `get` sees the
/// rows written earlier in the same batch, then the journal.
class model_writer {
public:
  model_writer(const journal& store, std::string model, write_batch& batch)
    : store_(store), model_(std::move(model)), batch_(batch) {
  }
  void put(std::string key, std::string value);
  void erase(std::string key);
  std::optional<std::string> get(const std::string& key) const;

private:
  const journal& store_;
  std::string model_;
  write_batch& batch_;
};

/// A projection handler: update the read model for one event.
using projection_handler
  = std::function<caf::error(const recorded_event&, model_writer&)>;

} // namespace annals

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(annals::event_batch)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(annals::batch_done)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(annals::subscription_options)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(annals::write_batch)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<annals::parked_event>)
