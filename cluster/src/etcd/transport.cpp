// annals -- event-sourced aggregates on the C++ Actor Framework.
#include "etcd/transport.hpp"

#include "etcd/etcd_errc.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

#include <charconv>

namespace annals::cluster::etcd::detail {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

caf::expected<endpoint> parse_endpoint(const std::string& text) {
  auto bad = [&](const char* why) {
    return make_error(etcd_errc::invalid_argument,
                      "bad etcd endpoint '" + text + "': " + why);
  };
  std::string host;
  std::string rest;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string::npos)
      return bad("unclosed '['");
    host = text.substr(1, close - 1);
    rest = text.substr(close + 1);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string::npos)
      return bad("expected host:port");
    host = text.substr(0, colon);
    rest = text.substr(colon);
  }
  if (host.empty())
    return bad("empty host");
  if (rest.size() < 2 || rest.front() != ':')
    return bad("expected host:port");
  auto port = rest.substr(1);
  unsigned value = 0;
  auto [end, ec]
    = std::from_chars(port.data(), port.data() + port.size(), value);
  if (ec != std::errc{} || end != port.data() + port.size() || value == 0
      || value > 65535)
    return bad("bad port");
  return endpoint{host, port, text};
}

caf::expected<std::shared_ptr<asio::ssl::context>>
make_tls_context(const std::string& cafile, const std::string& certificate,
                 const std::string& key) {
  auto ctx
    = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
  error_code ec;
  auto fail = [&](const std::string& what) {
    return make_error(etcd_errc::invalid_argument,
                      "etcd TLS: cannot use " + what + ": " + ec.message());
  };
  ctx->set_options(
    asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2
      | asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1
      | asio::ssl::context::no_tlsv1_1,
    ec);
  if (ec)
    return fail("TLS options");
  ctx->load_verify_file(cafile, ec);
  if (ec)
    return fail("CA file " + cafile);
  if (!certificate.empty() || !key.empty()) {
    ctx->use_certificate_chain_file(certificate, ec);
    if (ec)
      return fail("certificate " + certificate);
    ctx->use_private_key_file(key, asio::ssl::context::pem, ec);
    if (ec)
      return fail("key " + key);
  }
  ctx->set_verify_mode(asio::ssl::verify_peer, ec);
  if (ec)
    return fail("verify mode");
  return ctx;
}

connection::connection(std::shared_ptr<asio::ssl::context> tls)
  : tls_(std::move(tls)) {
  // nop
}

connection::~connection() {
  close();
}

template <class Start>
error_code connection::run(Start start, clock::time_point deadline) {
  if (interrupted_.load()) {
    close();
    return asio::error::operation_aborted;
  }
  std::optional<error_code> result;
  start([&result](error_code ec, auto&&...) { result = ec; });
  bool expired = false;
  while (!result && !interrupted_.load()) {
    ioc_.restart();
    if (ioc_.run_one_until(deadline) == 0 && !result
        && clock::now() >= deadline) {
      expired = true;
      break;
    }
  }
  if (result) {
    if (*result)
      close();
    return *result;
  }
  // Abort the pending operation and let its handler run before `result`
  // goes out of scope; only then may the stream go.
  abort_socket();
  while (!result) {
    ioc_.restart();
    ioc_.run_one();
  }
  close();
  return expired ? error_code{asio::error::timed_out}
                 : error_code{asio::error::operation_aborted};
}

error_code connection::connect(const endpoint& ep, clock::time_point deadline) {
  close();
  buffer_.clear();
  tcp::resolver::results_type addrs;
  error_code ec;
  auto addr = asio::ip::make_address(ep.host, ec);
  if (!ec) {
    uint16_t port = 0;
    std::from_chars(ep.port.data(), ep.port.data() + ep.port.size(), port);
    addrs = tcp::resolver::results_type::create(tcp::endpoint{addr, port},
                                                ep.host, ep.port);
  } else {
    tcp::resolver resolver{ioc_};
    ec = run(
      [&](auto handler) {
        resolver.async_resolve(
          ep.host, ep.port,
          [&addrs, handler](error_code e, tcp::resolver::results_type r) {
            addrs = std::move(r);
            handler(e);
          });
      },
      deadline);
    if (ec)
      return ec;
  }
  tcp::socket* sock = nullptr;
  if (tls_) {
    secure_.emplace(ioc_, *tls_);
    sock = &secure_->next_layer();
  } else {
    plain_.emplace(ioc_);
    sock = &*plain_;
  }
  ec = run([&](auto handler) { asio::async_connect(*sock, addrs, handler); },
           deadline);
  if (ec || !tls_)
    return ec;
  return run(
    [&](auto handler) {
      secure_->async_handshake(asio::ssl::stream_base::client, handler);
    },
    deadline);
}

error_code connection::write(http::request<http::string_body>& req,
                             clock::time_point deadline) {
  return run(
    [&](auto handler) {
      if (secure_)
        http::async_write(*secure_, req, handler);
      else if (plain_)
        http::async_write(*plain_, req, handler);
      else
        handler(asio::error::not_connected);
    },
    deadline);
}

error_code connection::read(http::response_parser<http::string_body>& p,
                            clock::time_point deadline) {
  return run(
    [&](auto handler) {
      if (secure_)
        http::async_read(*secure_, buffer_, p, handler);
      else if (plain_)
        http::async_read(*plain_, buffer_, p, handler);
      else
        handler(asio::error::not_connected);
    },
    deadline);
}

error_code connection::read_header(http::response_parser<http::buffer_body>& p,
                                   clock::time_point deadline) {
  return run(
    [&](auto handler) {
      if (secure_)
        http::async_read_header(*secure_, buffer_, p, handler);
      else if (plain_)
        http::async_read_header(*plain_, buffer_, p, handler);
      else
        handler(asio::error::not_connected);
    },
    deadline);
}

error_code connection::read_some(http::response_parser<http::buffer_body>& p,
                                 clock::time_point deadline) {
  auto ec = run(
    [&](auto handler) {
      if (secure_)
        http::async_read_some(*secure_, buffer_, p, handler);
      else if (plain_)
        http::async_read_some(*plain_, buffer_, p, handler);
      else
        handler(asio::error::not_connected);
    },
    deadline);
  if (ec == http::error::need_buffer)
    return {};
  return ec;
}

void connection::abort_socket() noexcept {
  error_code ignored;
  if (secure_)
    secure_->next_layer().close(ignored);
  if (plain_)
    plain_->close(ignored);
}

void connection::close() noexcept {
  error_code ignored;
  if (secure_) {
    secure_->next_layer().close(ignored);
    secure_.reset();
  }
  if (plain_) {
    plain_->close(ignored);
    plain_.reset();
  }
}

void connection::interrupt() noexcept {
  interrupted_.store(true);
  ioc_.stop();
}

bool is_connection_error(const error_code& ec) noexcept {
  if (ec.category()
      != http::make_error_code(http::error::end_of_stream).category())
    return true;
  return ec == http::error::end_of_stream || ec == http::error::partial_message;
}

} // namespace annals::cluster::etcd::detail
