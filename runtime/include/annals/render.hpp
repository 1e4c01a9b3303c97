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

/// Teaches `render` the code names of a user's error category (e.g. an
/// aggregate's rejection enum). Thread-safe; later registrations of the same
/// category replace earlier ones.
void register_error_category(caf::atom_value category,
                             std::string (*code_name)(uint8_t));

/// Convenience for an enum `E` with a `to_string(E)` found by ADL.
template <class E>
void register_error_category(caf::atom_value category) {
  register_error_category(category, [](uint8_t code) {
    return std::string{to_string(static_cast<E>(code))};
  });
}

} // namespace annals
