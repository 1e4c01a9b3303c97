// annals -- event-sourced aggregates on the C++ Actor Framework.
// Part of the aggregates module: the project's error codes (category
// "annals"). Journal errors have their own category (`journal_errc`).
#pragma once

#include <caf/atom.hpp>
#include <caf/error.hpp>

#include <cstdint>
#include <string>

namespace annals {

/// Errors of the aggregate runtime. *Definite* codes mean the command was
/// not applied; `outcome_unknown` means it may or may not have been (retry
/// with the same command id to find out).
enum class errc : uint8_t {
  /// Definite. The command's type is not in the aggregate's command list.
  unknown_command = 1,
  /// The stored event type name is unknown to this build.
  unknown_event_type,
  /// The stored schema version has no upcaster path to the current type.
  unknown_schema_version,
  /// Bytes could not be decoded into the expected type.
  malformed_payload,
  /// Definite. The user's handler threw; the aggregate restarts from the
  /// journal.
  handler_failed,
  /// Definite. The events were not made durable (storage failure, or an
  /// earlier pipelined command's commit failed); nothing became visible.
  not_persisted,
  /// Definite. The command's expected revision did not match.
  wrong_expected_revision,
  /// Definite. The aggregate could not be recovered from the journal.
  recovery_failed,
  /// Definite. The runtime refuses work (shutting down, overloaded).
  unavailable,
  /// The reply did not arrive in time; the command may have been applied.
  outcome_unknown,
  /// Definite. A malformed command envelope (empty id, ...).
  invalid_command,
};

const char* to_string(errc x) noexcept;

constexpr caf::atom_value errc_category = caf::atom("annals");

caf::error make_error(errc x);
caf::error make_error(errc x, std::string description);

/// True if `err` is of category "annals" with code `x`.
bool is(const caf::error& err, errc x) noexcept;

} // namespace annals
