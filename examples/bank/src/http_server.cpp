// bank -- the HTTP/1.1 server of the bank's JSON API.
#include "bank/http_server.hpp"

#include "http_connection.hpp"
#include "http_security.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <caf/sec.hpp>

#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <list>
#include <mutex>
#include <thread>
#include <unordered_map>

namespace bank {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

/// The connection bound the open-file limit allows: the soft limit less
/// `reserved_fds` for the rest of the process (half of it when the limit
/// is small), at least 1.
std::size_t fd_bound(std::size_t wanted) {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0 || lim.rlim_cur == RLIM_INFINITY)
    return wanted;
  auto soft = static_cast<std::size_t>(lim.rlim_cur);
  auto usable = soft > 2 * reserved_fds ? soft - reserved_fds : soft / 2;
  return std::max<std::size_t>(1, std::min(wanted, usable));
}

} // namespace

caf::expected<uint64_t> raise_open_files_limit() {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0)
    return caf::make_error(caf::sec::runtime_error,
                           std::string{"getrlimit: "} + std::strerror(errno));
  constexpr rlim_t cap = rlim_t{1} << 20; // Linux's default fs.nr_open
  auto target = lim.rlim_max == RLIM_INFINITY ? cap : lim.rlim_max;
  if (lim.rlim_cur != RLIM_INFINITY && lim.rlim_cur < target) {
    lim.rlim_cur = target;
    if (::setrlimit(RLIMIT_NOFILE, &lim) != 0)
      return caf::make_error(caf::sec::runtime_error,
                             std::string{"setrlimit: "} + std::strerror(errno));
  }
  return static_cast<uint64_t>(lim.rlim_cur);
}

/// Confined to the io thread while it runs; `stop` touches the members only
/// after joining it. The counters are atomic for `stats`.
struct http_server::impl : connection_registry {
  impl(api& b, http_options o, std::shared_ptr<const http_security> sec)
    : ioc(std::make_shared<asio::io_context>(1)), backend(b),
      opts(std::move(o)), security(std::move(sec)), acceptor(*ioc),
      retry(*ioc) {
  }

  ~impl() override {
    stop();
  }

  // -- the registry -----------------------------------------------------------

  /// A connection and, while it is idle, its place in `idle`.
  struct entry {
    std::shared_ptr<http_connection> conn;
    std::optional<std::list<http_connection*>::iterator> idle_at;
  };

  void now_idle(http_connection& c) override {
    auto i = connections.find(&c);
    if (i == connections.end() || i->second.idle_at)
      return;
    i->second.idle_at = idle.insert(idle.end(), &c);
  }

  void now_busy(http_connection& c) override {
    auto i = connections.find(&c);
    if (i == connections.end() || !i->second.idle_at)
      return;
    idle.erase(*i->second.idle_at);
    i->second.idle_at.reset();
  }

  void now_closed(http_connection& c) override {
    auto i = connections.find(&c);
    if (i == connections.end())
      return;
    if (i->second.idle_at)
      idle.erase(*i->second.idle_at);
    connections.erase(i);
    count = connections.size();
  }

  /// Makes room for one more connection by evicting the one idle longest.
  /// @returns false if every connection is busy.
  bool make_room() {
    if (idle.empty())
      return false;
    ++evicted;             // before the close, which the evicted client may see
    idle.front()->evict(); // calls `now_closed`
    return true;
  }

  // -- accepting --------------------------------------------------------------

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
        if (connections.size() >= max_connections && !make_room()) {
          // Counted before the close, so that a client that sees the close
          // also sees the count.
          ++refused;
          boost::system::error_code ignored;
          socket.close(ignored);
        } else {
          admit(std::move(socket));
        }
        do_accept();
      });
  }

  void admit(tcp::socket socket) {
    auto conn = std::make_shared<http_connection>(std::move(socket), backend,
                                                  opts, security, ioc, *this);
    auto& e = connections[conn.get()];
    e.conn = conn;
    e.idle_at = idle.insert(idle.end(), conn.get());
    count = connections.size();
    conn->start();
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
    for (auto& [ptr, e] : connections)
      e.conn->close();
    idle.clear();
    connections.clear();
    count = 0;
  }

  // Declared first, destroyed last: sockets and pending handlers die first.
  // Shared with backend completions, which may outlive the server.
  std::shared_ptr<asio::io_context> ioc;
  api& backend;
  http_options opts;
  std::shared_ptr<const http_security> security;
  std::size_t max_connections = 0;
  tcp::acceptor acceptor;
  asio::steady_timer retry;
  std::unordered_map<http_connection*, entry> connections;
  /// Idle connections, the one idle longest first.
  std::list<http_connection*> idle;
  std::atomic<std::size_t> count = 0;
  std::atomic<uint64_t> evicted = 0;
  std::atomic<uint64_t> refused = 0;
  uint16_t port = 0;
  std::mutex stop_mtx;
  std::thread thread;
};

http_server::http_server(std::unique_ptr<impl> ptr) : impl_(std::move(ptr)) {
}

http_server::~http_server() {
  stop();
}

caf::error http_server::check(const http_options& opts) {
  auto sec = http_security::load(opts);
  if (!sec)
    return std::move(sec.error());
  return caf::error{};
}

caf::expected<std::unique_ptr<http_server>>
http_server::start(api& backend, http_options opts) {
  auto sec = http_security::load(opts);
  if (!sec)
    return std::move(sec.error());
  auto self = std::make_unique<impl>(backend, std::move(opts), *sec);
  self->max_connections = fd_bound(self->opts.max_connections);
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

http_server_stats http_server::stats() const noexcept {
  http_server_stats out;
  out.connections = impl_->count;
  out.max_connections = impl_->max_connections;
  out.evicted = impl_->evicted;
  out.refused = impl_->refused;
  return out;
}

void http_server::stop() {
  impl_->stop();
}

} // namespace bank
