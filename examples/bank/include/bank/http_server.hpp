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

struct http_options {
  std::string address = "127.0.0.1";
  uint16_t port = 0; ///< 0: the operating system picks one (see `port()`)
  /// Larger request bodies are answered 413 without being read.
  std::size_t max_body = 1 << 20;
  /// Time a client has to send a whole request (and to take the response);
  /// also the keep-alive idle limit. Then the connection is closed.
  std::chrono::milliseconds read_timeout{10000};
  /// Connections beyond this are closed at once.
  std::size_t max_connections = 256;
};

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
/// (unread), slow clients are closed after `read_timeout`; no exception
/// leaves the server's thread.
///
/// Thread-safe: `port` and `stop` may be called from any thread except from
/// within a backend completion that runs on the server's own thread.
class http_server {
public:
  /// Listens on `opts.address`:`opts.port`. Errors:
  /// `caf::sec::invalid_argument` (a malformed address),
  /// `caf::sec::cannot_open_port` (bind or listen failed; the message names the
  /// address and the OS error).
  [[nodiscard]] static caf::expected<std::unique_ptr<http_server>>
  start(api& backend, http_options opts = {});

  ~http_server();
  http_server(const http_server&) = delete;
  http_server& operator=(const http_server&) = delete;

  /// The port the server listens on.
  uint16_t port() const noexcept;

  /// Closes the listener and every connection and joins the thread.
  /// Idempotent.
  void stop();

  struct impl;

private:
  explicit http_server(std::unique_ptr<impl> ptr);
  std::unique_ptr<impl> impl_;
};

} // namespace bank
