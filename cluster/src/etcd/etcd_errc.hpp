// annals -- event-sourced aggregates on the C++ Actor Framework.
// Part of the cluster module (internal): errors of the etcd client.
#pragma once

#include <caf/atom.hpp>
#include <caf/error.hpp>

#include <cstdint>
#include <optional>
#include <string>

namespace annals::cluster::etcd {

/// Errors of the etcd client (category atom "etcd"). The context of each
/// error is a message whose first element is a description naming the
/// endpoint(s) and the operation; `rejected` adds etcd's gRPC status code
/// (`grpc_code`), `compacted` the compact revision (`compact_revision`).
///
/// *Ambiguous* means a write may or may not have been applied: read back
/// before retrying anything that is not idempotent.
enum class etcd_errc : uint8_t {
  /// No endpoint answered: refused or closed connections, failed TLS
  /// handshakes, or etcd reported itself unavailable (gRPC 14, e.g. "no
  /// leader"). Ambiguous for writes whose request was sent.
  unavailable = 1,
  /// The deadline passed before an answer. Ambiguous for writes.
  timeout,
  /// etcd refused the request with a gRPC error (its message and code are
  /// the context). Nothing was applied.
  rejected,
  /// The answer was not the HTTP/JSON etcd sends (garbage, truncated JSON,
  /// missing fields, a non-JSON error page). Ambiguous for writes.
  malformed_response,
  /// The requested revision was compacted (a watch's start revision, or a
  /// read at an old revision): re-read, then watch from the new revision.
  compacted,
  /// The lease does not exist (expired or revoked). Nothing was applied.
  lease_not_found,
  /// A client argument or configuration was invalid (no endpoints, a bad
  /// `host:port`, unreadable TLS files). Nothing was sent.
  invalid_argument,
};

/// The name of `x`, e.g. "unavailable".
const char* to_string(etcd_errc x) noexcept;

/// The category atom of `etcd_errc`.
constexpr caf::atom_value etcd_category = caf::atom("etcd");

/// Makes an error whose context is `description`.
caf::error make_error(etcd_errc x, std::string description);

/// Makes a `rejected` (or, by etcd's message, `lease_not_found`) error from
/// etcd's gRPC error `message` and `code`.
caf::error make_rejected(std::string description, int32_t grpc_code);

/// Makes a `compacted` error carrying etcd's compact revision.
caf::error make_compacted(std::string description, int64_t compact_revision);

/// True if `err` is of category "etcd" with code `x`.
bool is(const caf::error& err, etcd_errc x) noexcept;

/// The gRPC status code of a `rejected` error.
std::optional<int32_t> grpc_code(const caf::error& err);

/// The compact revision of a `compacted` error.
std::optional<int64_t> compact_revision(const caf::error& err);

/// "etcd.timeout: ..." for our errors, CAF's rendering for others.
std::string describe(const caf::error& err);

} // namespace annals::cluster::etcd
