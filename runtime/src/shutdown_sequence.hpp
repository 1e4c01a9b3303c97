// annals -- event-sourced aggregates on the C++ Actor Framework.
// Stopping the runtime's actors in order (see `runtime::shutdown`).
#pragma once

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>

#include <future>
#include <memory>
#include <vector>

namespace annals::detail {

/// Stops actors in phases: sends every actor of `phases[0]` an exit
/// (`user_shutdown`) and waits for the down message of each, then does the
/// same with `phases[1]`, and so on; then fulfils `done` and quits. An
/// event-based actor that monitors before it sends the exit (an actor that
/// is already gone counts at once) and never blocks a scheduler thread.
/// Null handles and duplicates are skipped.
void spawn_shutdown_sequence(caf::actor_system& sys,
                             std::vector<std::vector<caf::actor>> phases,
                             std::shared_ptr<std::promise<void>> done);

/// Whether the calling thread is one of CAF's: a scheduler worker (CAF 0.17
/// names them "caf.multiplexer", like its I/O loop), the thread of a
/// blocking or detached actor ("caf.actor"), or its clock.
bool on_caf_thread() noexcept;

} // namespace annals::detail
