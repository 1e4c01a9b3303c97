// bank -- the HTTP/1.1 server of the bank's JSON API (Boost.Beast).
#pragma once

#include "bank/api.hpp"

#include <caf/expected.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace bank {

/// How an HTTPS server treats client certificates.
enum class client_cert_mode : uint8_t {
  /// Asked for; a client without one is served (without operator rights).
  optional,
  /// The TLS handshake fails without one.
  required,
};

/// HTTPS settings; all empty: plain HTTP. Files are PEM.
struct http_tls_options {
  std::string certificate_file; ///< the server's certificate chain
  std::string key_file;         ///< its private key
  /// CA certificates that verify client certificates. Every client
  /// certificate they verify is an operator credential. Empty: no client
  /// certificates are asked for.
  std::string client_ca_file;
  client_cert_mode client_certs = client_cert_mode::optional;
};

struct http_options {
  std::string address = "127.0.0.1";
  uint16_t port = 0; ///< 0: the operating system picks one (see `port()`)
  /// Larger request bodies are answered 413 without being read.
  std::size_t max_body = 1 << 20;
  /// Time a client has to send a whole request head, from the moment it
  /// connects (TLS handshake included) or, on a kept-alive connection, from
  /// the first byte of its next request. Then the connection is closed
  /// without an answer: idle and slowloris clients do not hold a socket.
  std::chrono::milliseconds header_timeout{2000};
  /// Time a client has to send a request's body, and to take a response.
  std::chrono::milliseconds read_timeout{10000};
  /// How long a kept-alive connection may wait for its next request.
  std::chrono::milliseconds keep_alive_timeout{10000};
  /// Most connections held at once. At the bound, a new connection evicts
  /// the connection idle the longest (no request in progress: waiting for
  /// or reading a request head); if every connection is busy, the new one
  /// is closed. `start` lowers the bound to what the process's open-file
  /// limit allows (see `raise_open_files_limit`).
  std::size_t max_connections = 4096;
  /// A file holding the operator bearer token (printable ASCII, at least
  /// 16 bytes; trailing white space ignored). Empty: no token. Read once, at
  /// `start`.
  std::string operator_token_file;
  http_tls_options tls;
};

/// Counters of a running server; each is read atomically.
struct http_server_stats {
  std::size_t connections = 0;     ///< open now
  std::size_t max_connections = 0; ///< the bound in force
  uint64_t evicted = 0; ///< idle connections closed to admit a new one
  uint64_t refused = 0; ///< new connections closed: every one was busy
};

/// File descriptors `start` leaves to the rest of the process (journal,
/// cluster peers, logs) when it derives the connection bound from the
/// open-file limit.
constexpr std::size_t reserved_fds = 256;

/// Raises the soft limit of open files (RLIMIT_NOFILE) of this process to
/// its hard limit (capped at 2^20), so that a server can hold thousands of
/// connections; call it once at program start. @returns the soft limit now
/// in force. Errors: `caf::sec::runtime_error` (getrlimit or setrlimit
/// failed; the limit is unchanged). Thread-safe.
[[nodiscard]] caf::expected<uint64_t> raise_open_files_limit();

/// Serves the routes of `bank::route` (http_routes.hpp) on one thread of its
/// own: asynchronous accept, read and write, keep-alive, one request at a
/// time per connection.
///
/// Lifecycle: `start` listens and spawns the thread; `stop` (or the
/// destructor) closes every connection and joins the thread. The backend
/// must outlive the server; replies the backend completes after `stop` are
/// dropped.
///
/// Robustness: malformed requests get 400 and a close, oversized bodies 413
/// (unread), clients that do not send a request head within
/// `header_timeout` are closed, slow bodies after `read_timeout`; at
/// `max_connections` the longest-idle connection makes room for a new one;
/// no exception leaves the server's thread.
///
/// Security: with `tls` set it speaks HTTPS only (a plain HTTP request gets
/// a plain 400 and a close). It tells `route` the request's operator
/// credential (`http_request::credential`): a bearer token equal to the one
/// in `operator_token_file` (compared in constant time), or a client
/// certificate verified by `tls.client_ca_file`.
///
/// Thread-safe: `port` and `stop` may be called from any thread except from
/// within a backend completion that runs on the server's own thread.
class http_server {
public:
  /// Listens on `opts.address`:`opts.port`. Errors:
  /// `caf::sec::invalid_argument` (a malformed address, or a credential
  /// file `check` refuses), `caf::sec::cannot_open_port` (bind or listen
  /// failed; the message names the address and the OS error).
  [[nodiscard]] static caf::expected<std::unique_ptr<http_server>>
  start(api& backend, http_options opts = {});

  /// Reads the operator token file and the TLS files of `opts` as `start`
  /// would, without listening: lets a program refuse bad options before it
  /// starts anything else. Errors: `caf::sec::invalid_argument` naming the
  /// file and the problem (never the token).
  [[nodiscard]] static caf::error check(const http_options& opts);

  ~http_server();
  http_server(const http_server&) = delete;
  http_server& operator=(const http_server&) = delete;

  /// The port the server listens on.
  uint16_t port() const noexcept;

  /// The server's counters (thread-safe).
  http_server_stats stats() const noexcept;

  /// Closes the listener and every connection and joins the thread.
  /// Idempotent.
  void stop();

  struct impl;

private:
  explicit http_server(std::unique_ptr<impl> ptr);
  std::unique_ptr<impl> impl_;
};

} // namespace bank
