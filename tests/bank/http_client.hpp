// bank -- a test client of the HTTP server: one connection driven step by
// step, every step bounded by a deadline so that a server bug fails the test
// instead of hanging it.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include <array>
#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>

namespace bank::testing {

struct reply {
  unsigned status = 0; ///< 0: no response (see `ec`)
  std::string content_type;
  std::string allow;
  std::string connection;
  std::string www_authenticate;
  std::string body;
  nlohmann::json doc; ///< the parsed body (discarded if not JSON)
  boost::beast::error_code ec;
};

class http_client {
public:
  static constexpr std::chrono::seconds deadline{5};

  explicit http_client(uint16_t port) : stream_(ioc_) {
    namespace asio = boost::asio;
    stream_.expires_after(deadline);
    asio::ip::tcp::endpoint ep{asio::ip::make_address("127.0.0.1"), port};
    stream_.async_connect(ep,
                          [this](boost::beast::error_code ec) { ec_ = ec; });
    run();
  }

  /// The connect's outcome.
  boost::beast::error_code error() const {
    return ec_;
  }

  /// Writes raw bytes.
  boost::beast::error_code send(const std::string& bytes) {
    stream_.expires_after(deadline);
    boost::asio::async_write(
      stream_, boost::asio::buffer(bytes),
      [this](boost::beast::error_code ec, std::size_t) { ec_ = ec; });
    run();
    return ec_;
  }

  /// Sends one request and reads its response on this connection.
  reply request(boost::beast::http::verb method, const std::string& target,
                const std::string& body = {},
                const std::map<std::string, std::string>& headers = {}) {
    namespace http = boost::beast::http;
    http::request<http::string_body> req{method, target, 11};
    req.set(http::field::host, "127.0.0.1");
    for (auto& [k, v] : headers)
      req.set(k, v);
    if (!body.empty() || method == http::verb::post)
      req.body() = body;
    req.prepare_payload();
    stream_.expires_after(deadline);
    http::async_write(
      stream_, req,
      [this](boost::beast::error_code ec, std::size_t) { ec_ = ec; });
    run();
    if (ec_) {
      reply r;
      r.ec = ec_;
      return r;
    }
    return read_response();
  }

  /// Reads one response.
  reply read_response() {
    namespace http = boost::beast::http;
    http::response<http::string_body> res;
    stream_.expires_after(deadline);
    http::async_read(
      stream_, buffer_, res,
      [this](boost::beast::error_code ec, std::size_t) { ec_ = ec; });
    run();
    reply r;
    r.ec = ec_;
    if (ec_)
      return r;
    r.status = res.result_int();
    r.content_type = std::string{res[http::field::content_type]};
    r.allow = std::string{res[http::field::allow]};
    r.connection = std::string{res[http::field::connection]};
    r.www_authenticate = std::string{res[http::field::www_authenticate]};
    r.body = res.body();
    r.doc = nlohmann::json::parse(r.body, nullptr, false);
    return r;
  }

  /// Reads until the server closes the connection (or the deadline passes):
  /// the bytes received and the error that ended the reading (`eof` or a
  /// reset means closed; `timeout` means still open).
  std::pair<std::string, boost::beast::error_code> read_to_end() {
    std::string got{static_cast<const char*>(buffer_.data().data()),
                    buffer_.size()};
    buffer_.consume(buffer_.size());
    stream_.expires_after(deadline);
    for (;;) {
      std::array<char, 4096> chunk;
      std::size_t n = 0;
      stream_.async_read_some(
        boost::asio::buffer(chunk),
        [this, &n](boost::beast::error_code ec, std::size_t k) {
          ec_ = ec;
          n = k;
        });
      run();
      got.append(chunk.data(), n);
      if (ec_)
        return {got, ec_};
    }
  }

private:
  void run() {
    ioc_.restart();
    ioc_.run();
  }

  boost::asio::io_context ioc_;
  boost::beast::tcp_stream stream_;
  boost::beast::flat_buffer buffer_;
  boost::beast::error_code ec_;
};

/// True if `ec` says the peer closed the connection.
inline bool closed_by_peer(const boost::beast::error_code& ec) {
  return ec == boost::asio::error::eof
         || ec == boost::asio::error::connection_reset;
}

} // namespace bank::testing
