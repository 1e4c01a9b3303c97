// bank -- the HTTP API's request -> response mapping, without sockets: route
// parsing, JSON validation, calls into `bank::api`, and error mapping.
#pragma once

#include "bank/api.hpp"

#include <caf/error.hpp>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace bank {

/// What the server learnt about a request's operator credential. The
/// server checks the credential (http_server.hpp); `route` decides what it
/// allows: operator-only routes need `valid`.
enum class operator_credential : uint8_t {
  unconfigured, ///< the server has no operator credential configured
  absent,       ///< none presented (no bearer token, no client certificate)
  wrong,        ///< a bearer token other than the operator token
  valid,        ///< the operator token, or a verified client certificate
};

/// What the mapping needs of an HTTP request.
struct http_request {
  std::string method; ///< "GET", "POST", ...
  std::string target; ///< origin form: "/accounts/a%201/events?from=3"
  /// The `Idempotency-Key` header, if the request had one.
  std::optional<std::string> idempotency_key;
  std::string body;
  operator_credential credential = operator_credential::unconfigured;
};

struct http_response {
  unsigned status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::string allow; ///< the `Allow` header of a 405, else empty
};

/// Longest accepted account, transfer or command id, in bytes.
constexpr size_t max_id_bytes = 200;

/// Most events returned by one `GET /accounts/{id}/events`.
constexpr uint32_t max_events_per_page = 1000;

/// Maps `req` to a call of `backend` and its result to a response.
///
/// Routes: `POST /accounts/{id}/open|credit|withdraw`, `POST /transfers`,
/// `GET /accounts/{id}`, `GET /accounts/{id}/events?from=N&max=M`,
/// `GET /transfers/{id}`, `GET /balances/{id}`, `GET /cluster`,
/// `GET /metrics`, `GET /healthz`; operator-only: `POST /cluster/leave`,
/// `GET /admin/parked`, `POST /admin/parked/replay`. Path segments are
/// percent-decoded.
///
/// Operator-only routes need `req.credential == valid`: `absent` is 401
/// (the server adds `WWW-Authenticate: Bearer` to every 401), `wrong` and
/// `unconfigured` are 403.
///
/// Idempotency: a write's command id comes from the `Idempotency-Key`
/// header or the body's `"command_id"`; when both are given they must be
/// equal (else 400). `POST /transfers` ignores both: the transfer id is its
/// key.
///
/// Bad input is answered 400 without calling the backend: malformed JSON,
/// a key twice in one object (at any depth), missing or mistyped fields,
/// an `amount` < 1, a `credit_limit` < 0, an id that is not `valid_id`.
/// `GET /accounts/{id}/events` renders each event's metadata (command id,
/// partition, position, epoch, timestamp; correlation and causation ids
/// when present) and is 404 for an account the backend reports unknown.
///
/// Calls `done` exactly once, on the calling thread or on the thread the
/// backend completes on. Never throws. Counts the request, with its route
/// template, method, status and handling time, in `http_metrics::global()`
/// (bank/metrics.hpp); `GET /metrics` appends those and the process
/// metrics to the backend's.
void route(api& backend, const http_request& req,
           std::function<void(http_response)> done);

/// The route template that `route` would answer `target` with, e.g.
/// "/accounts/{id}/events" (no id, no query), or "(unmatched)".
std::string route_template(std::string_view target);

/// A JSON error response `{"error": code, "message": message}`.
http_response error_response(unsigned status, std::string_view code,
                             std::string_view message);

/// Maps a backend error to a response: bank rejections 409 (`not_open` 404
/// when `not_open_is_404`), conflicts 409, `unavailable` 503,
/// `outcome_unknown` 504, anything else 500.
http_response error_response(const caf::error& err, bool not_open_is_404);

/// True if `id` may name an account, transfer or command: 1 to
/// `max_id_bytes` bytes of well-formed UTF-8 (see `valid_utf8`), no ASCII
/// control characters. Applies to path segments (after percent-decoding),
/// ids in bodies and the `Idempotency-Key` header.
bool valid_id(std::string_view id) noexcept;

/// True if `text` is well-formed UTF-8 (RFC 3629): no overlong forms, no
/// surrogates (U+D800..U+DFFF), nothing above U+10FFFF, no truncated or
/// stray continuation bytes.
bool valid_utf8(std::string_view text) noexcept;

} // namespace bank
