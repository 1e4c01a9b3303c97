// bank -- one HTTP/1.1 connection of the server.
#include "http_connection.hpp"

#include "bank/metrics.hpp"

#include <boost/asio/post.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

namespace bank {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

namespace {

/// Largest request header accepted (then 431 and a close).
constexpr uint32_t max_header_bytes = 16 * 1024;

bool is_parse_error(const beast::error_code& ec) {
  return ec.category()
         == http::make_error_code(http::error::bad_target).category();
}

} // namespace

http_connection::http_connection(asio::ip::tcp::socket socket, api& backend,
                                 const http_options& opts,
                                 std::shared_ptr<asio::io_context> ioc,
                                 closed_fn on_closed)
  : stream_(std::move(socket)), scratch_{}, backend_(backend), opts_(opts),
    ioc_(std::move(ioc)), on_closed_(std::move(on_closed)) {
}

void http_connection::start() {
  do_read();
}

void http_connection::close() noexcept {
  beast::error_code ignored;
  stream_.socket().close(ignored);
}

void http_connection::do_read() {
  routed_ = false;
  parser_.emplace();
  parser_->body_limit(opts_.max_body);
  parser_->header_limit(max_header_bytes);
  // One deadline for the whole request, idle keep-alive time included.
  stream_.expires_after(opts_.read_timeout);
  http::async_read(stream_, buffer_, *parser_,
                   [self = shared_from_this()](
                     beast::error_code ec, std::size_t) { self->on_read(ec); });
}

void http_connection::on_read(beast::error_code ec) {
  if (ec == http::error::body_limit) {
    respond(error_response(413, "payload_too_large",
                           "the body exceeds " + std::to_string(opts_.max_body)
                             + " bytes"),
            false);
    return;
  }
  if (ec == http::error::header_limit) {
    respond(error_response(431, "header_too_large",
                           "the header exceeds "
                             + std::to_string(max_header_bytes) + " bytes"),
            false);
    return;
  }
  if (ec && is_parse_error(ec) && ec != http::error::end_of_stream
      && ec != http::error::partial_message) {
    respond(error_response(400, "bad_request",
                           "malformed HTTP request: " + ec.message()),
            false);
    return;
  }
  if (ec) {
    // End of stream, timeout, reset: nothing to answer.
    finish(false);
    return;
  }
  auto& msg = parser_->get();
  http_request req;
  req.method = std::string{msg.method_string()};
  req.target = std::string{msg.target()};
  if (auto key = msg.find("Idempotency-Key"); key != msg.end())
    req.idempotency_key = std::string{key->value()};
  req.body = std::move(msg.body());
  bool keep_alive = msg.keep_alive();
  // The backend decides how long a command may take (outcome_unknown).
  stream_.expires_never();
  std::weak_ptr<http_connection> weak = shared_from_this();
  routed_ = true;
  route(backend_, req,
        [weak, ioc = ioc_.lock(), keep_alive](http_response res) mutable {
          try {
            asio::post(*ioc,
                       [weak, keep_alive, res = std::move(res)]() mutable {
                         if (auto self = weak.lock())
                           self->respond(std::move(res), keep_alive);
                       });
          } catch (...) {
            // Out of memory on the backend's thread: the connection stays
            // open until the server stops; nothing better to do here.
          }
        });
}

void http_connection::respond(http_response res, bool keep_alive) {
  if (!routed_) // refused before routing; route() counts the others
    http_metrics::global().observe("", "(unrouted)", res.status, -1);
  res_ = {};
  res_.version(11);
  res_.result(res.status);
  res_.set(http::field::server, "annals-bank");
  res_.set(http::field::content_type, res.content_type);
  if (!res.allow.empty())
    res_.set(http::field::allow, res.allow);
  res_.keep_alive(keep_alive);
  res_.body() = std::move(res.body);
  res_.prepare_payload();
  stream_.expires_after(opts_.read_timeout);
  http::async_write(
    stream_, res_,
    [self = shared_from_this(), keep_alive](beast::error_code ec, std::size_t) {
      self->on_write(ec, keep_alive);
    });
}

void http_connection::on_write(beast::error_code ec, bool keep_alive) {
  if (ec) {
    finish(false);
    return;
  }
  if (!keep_alive) {
    finish(true);
    return;
  }
  do_read();
}

void http_connection::finish(bool linger) {
  if (on_closed_) {
    auto f = std::move(on_closed_);
    on_closed_ = nullptr;
    f(this); // may drop the registry's reference; handlers still hold one
  }
  beast::error_code ignored;
  if (!linger) {
    stream_.socket().close(ignored);
    return;
  }
  stream_.socket().shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
  stream_.expires_after(opts_.read_timeout);
  drain();
}

void http_connection::drain() {
  stream_.async_read_some(
    asio::buffer(scratch_),
    [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec) {
        self->close();
        return;
      }
      self->drain();
    });
}

} // namespace bank
