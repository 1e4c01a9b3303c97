// bank -- one HTTP/1.1 connection of the server.
#include "http_connection.hpp"

#include "bank/metrics.hpp"

#include <boost/asio/post.hpp>
#include <boost/beast/core/detect_ssl.hpp>
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
                                 std::shared_ptr<const http_security> security,
                                 std::shared_ptr<asio::io_context> ioc,
                                 connection_registry& registry)
  : stream_(std::move(socket)), scratch_{}, backend_(backend), opts_(opts),
    security_(std::move(security)), ioc_(std::move(ioc)), registry_(&registry) {
}

void http_connection::start() {
  // One deadline from the connect to the end of the first request head.
  stream_.expires_after(opts_.header_timeout);
  if (security_->tls() != nullptr)
    detect_tls();
  else
    read_header();
}

void http_connection::evict() {
  auto self = shared_from_this(); // the registry drops its reference
  end();
}

void http_connection::close() noexcept {
  beast::error_code ignored;
  stream_.socket().close(ignored);
}

// -- TLS ----------------------------------------------------------------------

void http_connection::detect_tls() {
  beast::async_detect_ssl(
    stream_, buffer_,
    [self = shared_from_this()](beast::error_code ec, bool is_tls) {
      self->on_detected(ec, is_tls);
    });
}

void http_connection::on_detected(beast::error_code ec, bool is_tls) {
  if (ec) {
    finish(false);
    return;
  }
  if (!is_tls) {
    // Plain HTTP on the HTTPS port: say so, in plain HTTP, and close.
    respond(
      error_response(400, "https_required", "this port speaks HTTPS only"),
      false);
    return;
  }
  tls_ = std::make_unique<tls_stream>(stream_, *security_->tls());
  tls_->async_handshake(
    asio::ssl::stream_base::server, buffer_.data(),
    [self = shared_from_this()](beast::error_code hs_ec, std::size_t used) {
      self->on_handshake(hs_ec, used);
    });
}

void http_connection::on_handshake(beast::error_code ec, std::size_t used) {
  if (ec) {
    // No certificate where one is required, an unknown CA, a timeout:
    // nothing can be answered.
    finish(false);
    return;
  }
  buffer_.consume(used);
  peer_verified_ = peer_certificate_verified(tls_->native_handle());
  read_header();
}

// -- reading a request --------------------------------------------------------

void http_connection::await_request() {
  if (buffer_.size() > 0) { // pipelined: the next head has begun
    stream_.expires_after(opts_.header_timeout);
    read_header();
    return;
  }
  stream_.expires_after(opts_.keep_alive_timeout);
  with_stream([this](auto& s) {
    s.async_read_some(
      buffer_.prepare(scratch_.size()),
      [self = shared_from_this()](beast::error_code ec, std::size_t n) {
        if (ec) {
          self->finish(false);
          return;
        }
        self->buffer_.commit(n);
        self->stream_.expires_after(self->opts_.header_timeout);
        self->read_header();
      });
  });
}

void http_connection::read_header() {
  routed_ = false;
  parser_.emplace();
  parser_->body_limit(opts_.max_body);
  parser_->header_limit(max_header_bytes);
  with_stream([this](auto& s) {
    http::async_read_header(
      s, buffer_, *parser_,
      [self = shared_from_this()](beast::error_code ec, std::size_t) {
        self->on_header(ec);
      });
  });
}

void http_connection::on_header(beast::error_code ec) {
  if (ec) {
    read_failed(ec);
    return;
  }
  if (registry_ != nullptr)
    registry_->now_busy(*this);
  if (parser_->is_done()) {
    dispatch();
    return;
  }
  stream_.expires_after(opts_.read_timeout);
  with_stream([this](auto& s) {
    http::async_read(
      s, buffer_, *parser_,
      [self = shared_from_this()](beast::error_code body_ec, std::size_t) {
        self->on_body(body_ec);
      });
  });
}

void http_connection::on_body(beast::error_code ec) {
  if (ec) {
    read_failed(ec);
    return;
  }
  dispatch();
}

void http_connection::read_failed(beast::error_code ec) {
  if (ec == http::error::body_limit) {
    respond(error_response(413, "payload_too_large",
                           "the body exceeds " + std::to_string(opts_.max_body)
                             + " bytes"),
            false);
  } else if (ec == http::error::header_limit) {
    respond(error_response(431, "header_too_large",
                           "the header exceeds "
                             + std::to_string(max_header_bytes) + " bytes"),
            false);
  } else if (is_parse_error(ec) && ec != http::error::end_of_stream
             && ec != http::error::partial_message) {
    respond(error_response(400, "bad_request",
                           "malformed HTTP request: " + ec.message()),
            false);
  } else {
    // End of stream, timeout, reset: nothing to answer.
    finish(false);
  }
}

void http_connection::dispatch() {
  auto& msg = parser_->get();
  http_request req;
  req.method = std::string{msg.method_string()};
  req.target = std::string{msg.target()};
  if (auto key = msg.find("Idempotency-Key"); key != msg.end())
    req.idempotency_key = std::string{key->value()};
  std::optional<std::string_view> authorization;
  if (auto auth = msg.find(http::field::authorization); auth != msg.end())
    authorization
      = std::string_view{auth->value().data(), auth->value().size()};
  req.credential = security_->credential(peer_verified_, authorization);
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

// -- responding and closing ---------------------------------------------------

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
  if (res.status == 401) // RFC 7235: every 401 names the scheme
    res_.set(http::field::www_authenticate, "Bearer realm=\"bank-operator\"");
  res_.keep_alive(keep_alive);
  res_.body() = std::move(res.body);
  res_.prepare_payload();
  stream_.expires_after(opts_.read_timeout);
  with_stream([this, keep_alive](auto& s) {
    http::async_write(s, res_,
                      [self = shared_from_this(),
                       keep_alive](beast::error_code ec, std::size_t) {
                        self->on_write(ec, keep_alive);
                      });
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
  if (registry_ != nullptr)
    registry_->now_idle(*this);
  await_request();
}

void http_connection::finish(bool linger) {
  if (!linger) {
    end();
    return;
  }
  // Still holds a descriptor: counted, and the first to be evicted.
  if (registry_ != nullptr)
    registry_->now_idle(*this);
  stream_.expires_after(opts_.read_timeout);
  if (!tls_) {
    linger_tcp();
    return;
  }
  tls_->async_shutdown([self = shared_from_this()](beast::error_code ec) {
    if (ec) {
      self->end();
      return;
    }
    self->linger_tcp();
  });
}

void http_connection::end() {
  if (auto* r = registry_) {
    registry_ = nullptr;
    r->now_closed(*this); // may drop the registry's reference; handlers
                          // (or `evict`) still hold one
  }
  close();
}

void http_connection::linger_tcp() {
  beast::error_code ignored;
  stream_.socket().shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
  drain();
}

void http_connection::drain() {
  stream_.async_read_some(
    asio::buffer(scratch_),
    [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec) {
        self->end();
        return;
      }
      self->drain();
    });
}

} // namespace bank
