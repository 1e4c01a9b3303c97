// annals -- event-sourced aggregates on the C++ Actor Framework.
// Part of the cluster module (internal to the etcd client): one HTTP/1.1
// connection to an etcd endpoint, plain or mutual TLS, driven
// synchronously with a deadline on every step.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <caf/expected.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>

namespace annals::cluster::etcd::detail {

using clock = std::chrono::steady_clock;
using error_code = boost::system::error_code;

/// A parsed `host:port` (IPv6 hosts in brackets: `[::1]:2379`).
struct endpoint {
  std::string host;
  std::string port;
  std::string text; // as given
};

/// Parses `host:port`; `etcd_errc::invalid_argument` if malformed.
caf::expected<endpoint> parse_endpoint(const std::string& text);

/// Makes the TLS context for mutual TLS with the cluster CA: trusts only
/// `cafile`, presents `certificate`/`key` (none if both are empty: etcd
/// with `--client-cert-auth` refuses that), verifies the server's chain (not
/// its host name: any certificate of the private CA is a member).
/// `etcd_errc::invalid_argument` if a file cannot be used.
caf::expected<std::shared_ptr<boost::asio::ssl::context>>
make_tls_context(const std::string& cafile, const std::string& certificate,
                 const std::string& key);

/// One connection. Every call blocks the calling thread until its step
/// completes, fails, the deadline passes (`asio::error::timed_out`) or
/// `interrupt` is called (`asio::error::operation_aborted`); on a failure
/// the socket is closed. Not thread-safe, except `interrupt`.
class connection {
public:
  /// `tls` null: plain HTTP.
  explicit connection(std::shared_ptr<boost::asio::ssl::context> tls);
  ~connection();
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  /// Resolves, connects and (with TLS) handshakes.
  error_code connect(const endpoint& ep, clock::time_point deadline);

  /// Writes a whole request.
  error_code
  write(boost::beast::http::request<boost::beast::http::string_body>& req,
        clock::time_point deadline);

  /// Reads a whole response.
  error_code
  read(boost::beast::http::response_parser<boost::beast::http::string_body>& p,
       clock::time_point deadline);

  /// Reads up to the end of the response header.
  error_code read_header(
    boost::beast::http::response_parser<boost::beast::http::buffer_body>& p,
    clock::time_point deadline);

  /// Reads some of the body into the parser's buffer (`need_buffer` when it
  /// is full is not an error).
  error_code read_some(
    boost::beast::http::response_parser<boost::beast::http::buffer_body>& p,
    clock::time_point deadline);

  /// Closes the socket.
  void close() noexcept;

  /// Aborts the current and every later step. Thread-safe.
  void interrupt() noexcept;

private:
  void abort_socket() noexcept;

  template <class Start>
  error_code run(Start start, clock::time_point deadline);

  boost::asio::io_context ioc_;
  std::shared_ptr<boost::asio::ssl::context> tls_;
  std::optional<boost::asio::ip::tcp::socket> plain_;
  std::optional<boost::asio::ssl::stream<boost::asio::ip::tcp::socket>> secure_;
  boost::beast::flat_buffer buffer_;
  std::atomic<bool> interrupted_{false};
};

/// Whether `ec` is a connection-level failure (refused, reset, closed,
/// truncated) rather than a protocol violation by the peer.
bool is_connection_error(const error_code& ec) noexcept;

} // namespace annals::cluster::etcd::detail
