// annals -- event-sourced aggregates on the C++ Actor Framework.
#include "control/registration.hpp"

#include "control/control_errc.hpp"
#include "control/json_fields.hpp"

namespace annals::cluster::control {

namespace {

constexpr uint64_t registration_format = 1;

caf::error malformed(std::string what) {
  return make_error(control_errc::malformed_value,
                    "member registration: " + std::move(what));
}

} // namespace

std::string encode(const registration& x) {
  nlohmann::json out{{"format", registration_format},
                     {"incarnation", x.incarnation},
                     {"address", x.address},
                     {"intent", to_string(x.intent)}};
  return out.dump();
}

caf::expected<registration> decode_registration(std::string_view text) {
  auto doc = detail::parse_json(text);
  if (doc.is_discarded() || !doc.is_object())
    return malformed("not a JSON object");
  auto format = detail::uint_field(doc, "format");
  if (!format)
    return malformed("no format number");
  if (*format != registration_format)
    return make_error(control_errc::unknown_format,
                      "member registration: format " + std::to_string(*format));
  if (!detail::has_exactly(doc, {"format", "incarnation", "address", "intent"}))
    return malformed("fields are not format 1's");
  auto inc = detail::string_field(doc, "incarnation");
  auto addr = detail::string_field(doc, "address");
  auto intent = detail::intent_field(doc, "intent");
  if (!inc || !addr || !intent || inc->empty())
    return malformed("incarnation, address or intent missing or invalid");
  return registration{std::move(*inc), std::move(*addr), *intent};
}

} // namespace annals::cluster::control
