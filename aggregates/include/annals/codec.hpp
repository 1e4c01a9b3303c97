// annals -- event-sourced aggregates on the C++ Actor Framework.
// Part of the aggregates module: bytes <-> commands, events and state.
#pragma once

#include "annals/errc.hpp"
#include "annals/event_type.hpp"
#include "annals/type_list.hpp"

#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>
#include <caf/expected.hpp>

#include <cstddef>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace annals {

/// Serialises `x` with CAF's binary format through its `inspect` overload.
/// Thread-safe; no actor system needed.
template <class T>
std::vector<std::byte> encode(const T& x) {
  std::vector<char> buf;
  caf::binary_serializer sink{nullptr, buf};
  if (auto err = sink(const_cast<T&>(x)))
    throw std::logic_error("annals: cannot serialise a value: "
                           + caf::to_string(err));
  std::vector<std::byte> out(buf.size());
  if (!buf.empty())
    std::memcpy(out.data(), buf.data(), buf.size());
  return out;
}

/// Deserialises `n` bytes at `data` into `out`; every byte must be consumed.
/// @returns `malformed_payload` naming `what` on failure.
template <class T>
caf::error decode(const std::byte* data, std::size_t n, T& out,
                  std::string_view what) {
  caf::binary_deserializer src{nullptr, reinterpret_cast<const char*>(data), n};
  if (auto err = src(out))
    return make_error(errc::malformed_payload,
                      std::string{what} + ": " + caf::to_string(err));
  if (src.remaining() != 0)
    return make_error(errc::malformed_payload,
                      std::string{what} + ": " + std::to_string(src.remaining())
                        + " trailing bytes");
  return {};
}

namespace detail {

template <class E>
caf::error decode_versioned(uint32_t version, const std::byte* data,
                            std::size_t n, E& out) {
  if (version == schema_version_of<E>())
    return decode(data, n, out, E::type_name);
  if constexpr (upcastable<E>) {
    typename E::upcast_from old;
    if (auto err = decode_versioned(version, data, n, old))
      return err;
    out = E::upcast(std::move(old));
    return {};
  } else {
    return make_error(errc::unknown_schema_version,
                      std::string{E::type_name} + " version "
                        + std::to_string(version) + " (this build reads "
                        + std::to_string(schema_version_of<E>())
                        + " and has no upcaster from it)");
  }
}

template <class Variant, class E, class... Es>
caf::error decode_event_impl(std::string_view type, uint32_t version,
                             const std::byte* data, std::size_t n,
                             Variant& out) {
  if (type == E::type_name) {
    E ev;
    if (auto err = decode_versioned(version, data, n, ev))
      return err;
    out = std::move(ev);
    return {};
  }
  if constexpr (sizeof...(Es) > 0)
    return decode_event_impl<Variant, Es...>(type, version, data, n, out);
  else
    return make_error(errc::unknown_event_type,
                      "unknown event type " + std::string{type});
}

template <class List>
struct event_decoder;

template <class... Es>
struct event_decoder<type_list<Es...>> {
  static caf::error run(std::string_view type, uint32_t version,
                        const std::byte* data, std::size_t n,
                        std::variant<Es...>& out) {
    return decode_event_impl<std::variant<Es...>, Es...>(type, version, data, n,
                                                         out);
  }
};

} // namespace detail

/// Decodes a stored event of one of the types in `Events` from its stable
/// type name, schema version and payload, upcasting older versions.
/// @returns `unknown_event_type`, `unknown_schema_version` or
///          `malformed_payload` on failure.
template <class Events>
caf::error decode_event(std::string_view type, uint32_t version,
                        const std::byte* data, std::size_t n,
                        tl_variant_t<Events>& out) {
  return detail::event_decoder<Events>::run(type, version, data, n, out);
}

/// The stable name and version of the event held by `v`.
template <class Variant>
std::string_view event_type_name(const Variant& v) {
  return std::visit(
    [](const auto& e) {
      return std::string_view{std::decay_t<decltype(e)>::type_name};
    },
    v);
}

template <class Variant>
uint32_t event_schema_version(const Variant& v) {
  return std::visit(
    [](const auto& e) {
      return schema_version_of<std::decay_t<decltype(e)>>();
    },
    v);
}

/// Encodes the event held by `v`.
template <class Variant>
std::vector<std::byte> encode_event(const Variant& v) {
  return std::visit([](const auto& e) { return encode(e); }, v);
}

} // namespace annals
