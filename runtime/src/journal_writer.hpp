// annals -- event-sourced aggregates on the C++ Actor Framework.
// The journal writer: the only code that writes the journal.
#pragma once

#include "annals/detail/runtime_context.hpp"

#include <caf/blocking_actor.hpp>

namespace annals::detail {

/// A blocking actor (own thread; LMDB wants write transactions on one
/// thread). It blocks for the first message, then drains whatever else is
/// in its mailbox (up to `max_batch` appends) without blocking, and commits
/// all of it in ONE transaction with ONE fsync: the appends of every
/// aggregate that arrived while the previous commit ran (group commit).
/// Each append's requester gets its `append_result` or error only after the
/// commit returned.
///
/// Messages: `(append_atom, append_request)` -> `append_result` | error;
/// `(snapshot_atom, snapshot)` -> nothing (best effort, logged on failure);
/// `stop_atom` -> the runtime stops: replies held for replication become
/// `errc::outcome_unknown` now, and later ones are not held;
/// `exit_msg` -> commits what it has, then stops.
void journal_writer(caf::blocking_actor* self, context_ptr ctx);

/// The recovery gate: hands out at most `max_recoveries` permits
/// (`acquire_atom` -> `ok_atom`, later `release_atom`), queueing the rest in
/// arrival order. A holder that dies without releasing is detected by
/// monitoring, so no permit leaks.
caf::behavior recovery_gate(caf::event_based_actor* self, std::size_t permits);

} // namespace annals::detail
