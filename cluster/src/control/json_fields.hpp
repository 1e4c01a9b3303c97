// annals -- event-sourced aggregates on the C++ Actor Framework.
// Part of the cluster module (internal): strict field access for the
// control plane's JSON codecs. Never throws: each helper returns an
// empty optional when the field is absent or of another type.
#pragma once

#include "control/partition_map.hpp"

#include <cstdint>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace annals::cluster::control::detail {

/// Parses `text`; a discarded value (`is_discarded()`) on a syntax error.
inline nlohmann::json parse_json(std::string_view text) {
  return nlohmann::json::parse(text.begin(), text.end(), nullptr, false);
}

/// True if `obj` is an object with exactly the keys `names`.
inline bool has_exactly(const nlohmann::json& obj,
                        std::initializer_list<const char*> names) {
  if (!obj.is_object() || obj.size() != names.size())
    return false;
  for (const char* name : names)
    if (obj.find(name) == obj.end())
      return false;
  return true;
}

/// A non-negative integer field.
inline std::optional<uint64_t> uint_field(const nlohmann::json& obj,
                                          const char* name) {
  auto it = obj.find(name);
  if (it == obj.end() || !it->is_number_unsigned())
    return std::nullopt;
  return it->get<uint64_t>();
}

/// A string field.
inline std::optional<std::string> string_field(const nlohmann::json& obj,
                                               const char* name) {
  auto it = obj.find(name);
  if (it == obj.end() || !it->is_string())
    return std::nullopt;
  return it->get<std::string>();
}

/// A member intent field ("serve" or "leave").
inline std::optional<member_intent> intent_field(const nlohmann::json& obj,
                                                 const char* name) {
  auto x = string_field(obj, name);
  if (!x)
    return std::nullopt;
  if (*x == "serve")
    return member_intent::serve;
  if (*x == "leave")
    return member_intent::leave;
  return std::nullopt;
}

} // namespace annals::cluster::control::detail
