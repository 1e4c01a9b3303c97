// bank -- one HTTP/1.1 connection of the server (private to http_server).
#pragma once

#include "bank/api.hpp"
#include "bank/http_routes.hpp"
#include "bank/http_server.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include <array>
#include <functional>
#include <memory>
#include <optional>

namespace bank {

/// Reads a request, hands it to `route`, writes the response, repeats while
/// the client keeps the connection alive.
///
/// Owned by the server's registry from `start` until `finish` (the registry
/// keeps it alive while the backend works on a request); pending handlers
/// hold it too. Confined to the server's thread; the backend's completion
/// crosses over by posting to the io_context.
class http_connection : public std::enable_shared_from_this<http_connection> {
public:
  using closed_fn = std::function<void(http_connection*)>;

  http_connection(boost::asio::ip::tcp::socket socket, api& backend,
                  const http_options& opts,
                  std::shared_ptr<boost::asio::io_context> ioc,
                  closed_fn on_closed);

  void start();

  /// Closes the socket at once (server shutdown). No callback.
  void close() noexcept;

private:
  void do_read();
  void on_read(boost::beast::error_code ec);
  void respond(http_response res, bool keep_alive);
  void on_write(boost::beast::error_code ec, bool keep_alive);
  /// Leaves the registry, then closes: after a response, by sending FIN and
  /// discarding what the client still sends (bounded by read_timeout), so
  /// that the client reads the response rather than a reset.
  void finish(bool linger);
  void drain();

  boost::beast::tcp_stream stream_;
  boost::beast::flat_buffer buffer_;
  std::optional<
    boost::beast::http::request_parser<boost::beast::http::string_body>>
    parser_;
  boost::beast::http::response<boost::beast::http::string_body> res_;
  std::array<char, 4096> scratch_;
  api& backend_;
  http_options opts_;
  /// Weak: the io_context's pending handlers own this connection, so a
  /// strong reference would be a cycle. Backend completions lock it.
  std::weak_ptr<boost::asio::io_context> ioc_;
  closed_fn on_closed_;
  /// The request being answered went through `route` (which counts it in
  /// the metrics); else `respond` counts it as refused before routing.
  bool routed_ = false;
};

} // namespace bank
