// annals -- event-sourced aggregates on the C++ Actor Framework.
// Part of the runtime module: human-readable errors of every category.
#pragma once

#include <caf/actor_system_config.hpp>
#include <caf/error.hpp>

#include <string>

namespace annals {

/// "annals.not_persisted: ...", "journal.corrupt_record: ...", or CAF's
/// rendering for other categories. Needs no actor system.
std::string render(const caf::error& err);

/// Registers renderers for the "annals" and "journal" categories, so that
/// `actor_system::render` shows names instead of numbers.
void register_error_renderers(caf::actor_system_config& cfg);

} // namespace annals
