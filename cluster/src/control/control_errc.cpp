// annals -- event-sourced aggregates on the C++ Actor Framework.
#include "control/control_errc.hpp"

#include "etcd/etcd_errc.hpp"

#include <caf/make_message.hpp>
#include <caf/message.hpp>

namespace annals::cluster::control {

const char* to_string(control_errc x) noexcept {
  switch (x) {
  case control_errc::malformed_value:
    return "malformed_value";
  case control_errc::unknown_format:
    return "unknown_format";
  case control_errc::invalid_argument:
    return "invalid_argument";
  case control_errc::no_members:
    return "no_members";
  case control_errc::not_a_learner:
    return "not_a_learner";
  case control_errc::not_controller:
    return "not_controller";
  case control_errc::conflict:
    return "conflict";
  }
  return "unknown";
}

caf::error make_error(control_errc x, std::string description) {
  return caf::error{static_cast<uint8_t>(x), control_category,
                    caf::make_message(std::move(description))};
}

bool is(const caf::error& err, control_errc x) noexcept {
  return err && err.category() == control_category
         && err.code() == static_cast<uint8_t>(x);
}

std::string describe(const caf::error& err) {
  if (!err || err.category() != control_category)
    return etcd::describe(err);
  std::string out = "control.";
  out += to_string(static_cast<control_errc>(err.code()));
  const auto& ctx = err.context();
  if (!ctx.empty() && ctx.match_element<std::string>(0)) {
    out += ": ";
    out += ctx.get_as<std::string>(0);
  }
  return out;
}

} // namespace annals::cluster::control
