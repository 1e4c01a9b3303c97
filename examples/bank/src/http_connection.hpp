// bank -- one HTTP/1.1 connection of the server (private to http_server).
#pragma once

#include "bank/api.hpp"
#include "bank/http_routes.hpp"
#include "bank/http_server.hpp"
#include "http_security.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include <array>
#include <memory>
#include <optional>

namespace bank {

class http_connection;

/// What a connection tells the server about its state changes, on the
/// server's thread. The server keeps its registry (and the eviction order)
/// by these calls.
class connection_registry {
public:
  virtual ~connection_registry() = default;

  /// `c` waits for a request head again (after a response on a kept-alive
  /// connection), or lingers before it closes: it may be evicted from now
  /// on.
  virtual void now_idle(http_connection& c) = 0;

  /// `c` received a whole request head: it is not evicted until it is idle
  /// again.
  virtual void now_busy(http_connection& c) = 0;

  /// `c` is closed: forget it. Called once.
  virtual void now_closed(http_connection& c) = 0;
};

/// One client connection: (TLS detection and handshake), then reads a
/// request head, its body, hands the request to `route`, writes the
/// response, and repeats while the client keeps the connection alive.
///
/// Deadlines: the head within `header_timeout` of the connect (handshake
/// included) or of the first byte of a kept-alive connection's next
/// request; the body and the response's write within `read_timeout`; the
/// wait between kept-alive requests within `keep_alive_timeout`. None while
/// the backend works on a request (it bounds its own time).
///
/// Owned by the server's registry from `start` until `now_closed` (the
/// registry keeps it alive while the backend works on a request); pending
/// handlers hold it too. Confined to the server's thread; the backend's
/// completion crosses over by posting to the io_context.
class http_connection : public std::enable_shared_from_this<http_connection> {
public:
  http_connection(boost::asio::ip::tcp::socket socket, api& backend,
                  const http_options& opts,
                  std::shared_ptr<const http_security> security,
                  std::shared_ptr<boost::asio::io_context> ioc,
                  connection_registry& registry);

  /// Starts reading; the connection counts as idle.
  void start();

  /// Closes at once and leaves the registry (the server makes room).
  void evict();

  /// Closes the socket at once (server shutdown). No callback.
  void close() noexcept;

private:
  using request_parser
    = boost::beast::http::request_parser<boost::beast::http::string_body>;
  using tls_stream = boost::asio::ssl::stream<boost::beast::tcp_stream&>;

  // -- TLS --------------------------------------------------------------------

  void detect_tls();
  void on_detected(boost::beast::error_code ec, bool is_tls);
  void on_handshake(boost::beast::error_code ec, std::size_t used);

  // -- reading a request ------------------------------------------------------

  /// Kept-alive: waits for the first byte of the next request.
  void await_request();
  void read_header();
  void on_header(boost::beast::error_code ec);
  void on_body(boost::beast::error_code ec);
  /// Answers or closes after a failed read.
  void read_failed(boost::beast::error_code ec);
  /// Hands the complete request to `route`.
  void dispatch();

  // -- responding and closing -------------------------------------------------

  void respond(http_response res, bool keep_alive);
  void on_write(boost::beast::error_code ec, bool keep_alive);
  /// Closes: at once, or after a response by sending FIN (a TLS
  /// close_notify first) and discarding what the client still sends
  /// (bounded by read_timeout), so that the client reads the response
  /// rather than a reset. A lingering connection counts as idle.
  void finish(bool linger);
  void linger_tcp();
  void drain();
  /// Leaves the registry and closes the socket.
  void end();

  /// Calls `f` with the stream requests travel on: TLS or plain TCP.
  template <class F>
  void with_stream(F&& f) {
    if (tls_)
      f(*tls_);
    else
      f(stream_);
  }

  boost::beast::tcp_stream stream_;
  std::unique_ptr<tls_stream> tls_; ///< set once the client spoke TLS
  bool peer_verified_ = false;      ///< a client certificate the CA verified
  boost::beast::flat_buffer buffer_;
  std::optional<request_parser> parser_;
  boost::beast::http::response<boost::beast::http::string_body> res_;
  std::array<char, 4096> scratch_;
  api& backend_;
  const http_options& opts_; ///< the server's; outlives every handler run
  std::shared_ptr<const http_security> security_;
  /// Weak: the io_context's pending handlers own this connection, so a
  /// strong reference would be a cycle. Backend completions lock it.
  std::weak_ptr<boost::asio::io_context> ioc_;
  connection_registry* registry_; ///< null once closed
  /// The request being answered went through `route` (which counts it in
  /// the metrics); else `respond` counts it as refused before routing.
  bool routed_ = false;
};

} // namespace bank
