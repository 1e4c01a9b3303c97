// annals -- event-sourced aggregates on the C++ Actor Framework.
#include "annals/errc.hpp"

#include <caf/make_message.hpp>

namespace annals {

const char* to_string(errc x) noexcept {
  switch (x) {
  case errc::unknown_command:
    return "unknown_command";
  case errc::unknown_event_type:
    return "unknown_event_type";
  case errc::unknown_schema_version:
    return "unknown_schema_version";
  case errc::malformed_payload:
    return "malformed_payload";
  case errc::handler_failed:
    return "handler_failed";
  case errc::not_persisted:
    return "not_persisted";
  case errc::wrong_expected_revision:
    return "wrong_expected_revision";
  case errc::recovery_failed:
    return "recovery_failed";
  case errc::unavailable:
    return "unavailable";
  case errc::outcome_unknown:
    return "outcome_unknown";
  case errc::invalid_command:
    return "invalid_command";
  }
  return "unknown";
}

caf::error make_error(errc x) {
  return caf::error{static_cast<uint8_t>(x), errc_category};
}

caf::error make_error(errc x, std::string description) {
  return caf::error{static_cast<uint8_t>(x), errc_category,
                    caf::make_message(std::move(description))};
}

bool is(const caf::error& err, errc x) noexcept {
  return err && err.category() == errc_category
         && err.code() == static_cast<uint8_t>(x);
}

} // namespace annals
