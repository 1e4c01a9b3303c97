// annals -- event-sourced aggregates on the C++ Actor Framework.
// Part of the runtime module: what travels to an aggregate and back.
#pragma once

#include "annals/persistence/batch.hpp"

#include <caf/message.hpp>
#include <caf/meta/type_name.hpp>

#include <cstdint>
#include <optional>
#include <string>

namespace annals {

/// A command on its way to aggregate `category`/`id`. Built by
/// `aggregate_handle::make`; the same envelope is routed in-process and,
/// later, across the cluster.
struct command_envelope {
  std::string category;
  std::string id;
  /// Idempotency key (optional). A retried command with the same id gets
  /// the original reply, also after passivation or a restart, within the
  /// journal's dedupe window.
  std::string command_id;
  std::string correlation_id;
  std::string causation_id;
  /// 0 = any, 1 = no stream, 2 = stream exists, 3 = exactly
  /// `expected_revision`.
  uint8_t expected_kind = 0;
  uint64_t expected_revision = 0;
  /// The user's command value.
  caf::message command;
  /// Set by the cluster module: the aggregate replies `routed_reply` (the
  /// reply in a box any node can forward) instead of the bare reply.
  bool boxed_reply = false;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, command_envelope& x) {
  return f(caf::meta::type_name("annals.command_envelope"), x.category, x.id,
           x.command_id, x.correlation_id, x.causation_id, x.expected_kind,
           x.expected_revision, x.command, x.boxed_reply);
}

/// A reply in a box: lets a node forward replies of any type (the cluster
/// module relays replies it cannot name). Errors travel unboxed.
struct routed_reply {
  caf::message value;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, routed_reply& x) {
  return f(caf::meta::type_name("annals.routed_reply"), x.value);
}

/// The reply to a deciding command that was accepted: its events are
/// durable (or it was a duplicate of one whose events are).
struct ack {
  /// The first revision this command wrote; 0 if it emitted no events.
  uint64_t first_revision = 0;
  /// The stream's revision after the command.
  uint64_t revision = 0;
  /// Number of events the command wrote.
  uint32_t events = 0;
  /// True if this is a retry of a command already applied: nothing was
  /// written now and the fields describe the original.
  bool duplicate = false;

  friend bool operator==(const ack&, const ack&) = default;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ack& x) {
  return f(caf::meta::type_name("annals.ack"), x.first_revision, x.revision,
           x.events, x.duplicate);
}

/// Per-command options.
struct command_options {
  std::string command_id;
  std::string correlation_id;
  std::string causation_id;
  /// Checked against the aggregate's revision before deciding.
  std::optional<expected_revision> expected;
};

} // namespace annals
