// bank -- the HTTP/1.1 server of the bank's JSON API.
#include "bank/http_server.hpp"

#include "http_connection.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <caf/sec.hpp>

#include <mutex>
#include <thread>
#include <unordered_map>

namespace bank {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

/// Confined to the io thread while it runs; `stop` touches the members only
/// after joining it.
struct http_server::impl {
  impl(api& b, http_options o)
    : ioc(std::make_shared<asio::io_context>(1)), backend(b),
      opts(std::move(o)), acceptor(*ioc), retry(*ioc) {
  }

  ~impl() {
    stop();
  }

  void do_accept() {
    acceptor.async_accept(
      [this](boost::system::error_code ec, tcp::socket socket) {
        if (ec == asio::error::operation_aborted)
          return;
        if (ec) {
          // E.g. out of file descriptors: back off instead of spinning.
          retry.expires_after(std::chrono::milliseconds{50});
          retry.async_wait([this](boost::system::error_code wait_ec) {
            if (!wait_ec)
              do_accept();
          });
          return;
        }
        if (connections.size() >= opts.max_connections) {
          boost::system::error_code ignored;
          socket.close(ignored);
        } else {
          auto conn = std::make_shared<http_connection>(
            std::move(socket), backend, opts, ioc,
            [this](http_connection* c) { connections.erase(c); });
          connections.emplace(conn.get(), conn);
          conn->start();
        }
        do_accept();
      });
  }

  void run() noexcept {
    for (;;) {
      try {
        ioc->run();
        return;
      } catch (...) {
        // A handler threw (out of memory): keep serving the others.
      }
    }
  }

  void stop() {
    std::lock_guard guard{stop_mtx};
    if (!thread.joinable())
      return;
    ioc->stop();
    thread.join();
    boost::system::error_code ignored;
    acceptor.close(ignored);
    retry.cancel();
    for (auto& [ptr, conn] : connections)
      conn->close();
    connections.clear();
  }

  // Declared first, destroyed last: sockets and pending handlers die first.
  // Shared with backend completions, which may outlive the server.
  std::shared_ptr<asio::io_context> ioc;
  api& backend;
  http_options opts;
  tcp::acceptor acceptor;
  asio::steady_timer retry;
  std::unordered_map<http_connection*, std::shared_ptr<http_connection>>
    connections;
  uint16_t port = 0;
  std::mutex stop_mtx;
  std::thread thread;
};

http_server::http_server(std::unique_ptr<impl> ptr) : impl_(std::move(ptr)) {
}

http_server::~http_server() {
  stop();
}

caf::expected<std::unique_ptr<http_server>>
http_server::start(api& backend, http_options opts) {
  auto self = std::make_unique<impl>(backend, std::move(opts));
  boost::system::error_code ec;
  auto address = asio::ip::make_address(self->opts.address, ec);
  if (ec)
    return caf::make_error(caf::sec::invalid_argument,
                           "bad listen address: " + self->opts.address);
  tcp::endpoint endpoint{address, self->opts.port};
  auto where = self->opts.address + ":" + std::to_string(self->opts.port);
  auto& acc = self->acceptor;
  if (acc.open(endpoint.protocol(), ec); !ec)
    acc.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec)
    acc.bind(endpoint, ec);
  if (!ec)
    acc.listen(asio::socket_base::max_listen_connections, ec);
  if (!ec)
    self->port = acc.local_endpoint(ec).port();
  if (ec)
    return caf::make_error(caf::sec::cannot_open_port,
                           "cannot listen on " + where + ": " + ec.message());
  self->do_accept();
  auto* raw = self.get();
  try {
    self->thread = std::thread{[raw] { raw->run(); }};
  } catch (const std::system_error& e) {
    return caf::make_error(caf::sec::runtime_error,
                           std::string{"cannot start the server thread: "}
                             + e.what());
  }
  return std::unique_ptr<http_server>{new http_server(std::move(self))};
}

uint16_t http_server::port() const noexcept {
  return impl_->port;
}

void http_server::stop() {
  impl_->stop();
}

} // namespace bank
