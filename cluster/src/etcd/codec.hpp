// annals -- event-sourced aggregates on the C++ Actor Framework.
// Part of the cluster module (internal to the etcd client): the JSON
// encoding of etcd's gRPC gateway. Keys and values travel as base64;
// int64 fields (revisions, lease ids, TTLs) as JSON strings, and fields
// with their default value (0, false, "") are omitted.
#pragma once

#include "etcd/etcd_client.hpp"

#include <caf/error.hpp>

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace annals::cluster::etcd::detail {

/// Standard base64 with padding.
std::string base64_encode(std::string_view bytes);

/// Decodes standard base64 (padding optional); nullopt if malformed.
std::optional<std::string> base64_decode(std::string_view text);

/// Field `name` of `obj` as int64: absent or null = 0; a string of digits
/// or a JSON integer; nullopt for anything else (or if `obj` is not an
/// object).
std::optional<int64_t> int_field(const nlohmann::json& obj, const char* name);

/// Field `name` of `obj` as a bool (absent = false); nullopt if not a bool.
std::optional<bool> bool_field(const nlohmann::json& obj, const char* name);

/// A base64 field (absent = ""); nullopt if not a valid base64 string.
std::optional<std::string> bytes_field(const nlohmann::json& obj,
                                       const char* name);

/// Decodes an `mvccpb.KeyValue`; nullopt if malformed.
std::optional<key_value> decode_kv(const nlohmann::json& obj);

/// Decodes a range response (`kvs`, `count`, `more`, `header.revision`).
std::optional<range_result> decode_range(const nlohmann::json& obj);

/// The `header.revision` of a response (0 if absent); nullopt if malformed.
std::optional<int64_t> header_revision(const nlohmann::json& obj);

/// If `obj` is an error body of the gateway -- unary `{"error": "...",
/// "message": "...", "code": n}` or streaming `{"error": {"grpc_code": n,
/// "message": "..."}}` -- the error (`rejected`, `lease_not_found`,
/// `unavailable` for gRPC UNAVAILABLE, `timeout` for DEADLINE_EXCEEDED);
/// else a default-constructed error. `where` prefixes the description.
caf::error decode_error_body(const nlohmann::json& obj,
                             const std::string& where);

/// Parses `text` without throwing; a discarded value if malformed.
nlohmann::json parse_json(std::string_view text);

} // namespace annals::cluster::etcd::detail
