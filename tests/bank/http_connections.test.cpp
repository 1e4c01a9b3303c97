// bank -- tests of the HTTP server under many connections: thousands of idle
// connections, eviction of the longest-idle one at the bound, and the
// deadlines for a request head, a body and a kept-alive wait.
#include "await.hpp"
#include "bank/http_server.hpp"
#include "fake_bank_api.hpp"
#include "http_client.hpp"

#include <boost/asio/steady_timer.hpp>
#include <catch2/catch.hpp>

#include <sys/socket.h>
#include <sys/time.h>

#include <array>
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

using namespace bank;
using annals::testing::await;
using bank::testing::closed_by_peer;
using bank::testing::fake_bank_api;
using bank::testing::http_client;
using http_verb = boost::beast::http::verb;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

struct server_fixture {
  explicit server_fixture(const http_options& opts) {
    auto started = http_server::start(backend, opts);
    REQUIRE(started);
    server = std::move(*started);
  }

  uint16_t port() const {
    return server->port();
  }

  bool connections_are(std::size_t n) const {
    return await([&] { return server->stats().connections == n; });
  }

  fake_bank_api backend;
  std::unique_ptr<http_server> server;
};

tcp::endpoint loopback(uint16_t port) {
  return {asio::ip::make_address("127.0.0.1"), port};
}

/// Sends `request` on a blocking socket and returns the first bytes of the
/// answer (empty if none within 5 s).
std::string exchange(tcp::socket& s, const std::string& request) {
  timeval tv{5, 0};
  ::setsockopt(s.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  boost::system::error_code ec;
  asio::write(s, asio::buffer(request), ec);
  if (ec)
    return {};
  std::array<char, 512> buf;
  auto n = s.read_some(asio::buffer(buf), ec);
  return std::string{buf.data(), n};
}

/// How a trickling client ended: it sends one more byte of a request head
/// that never ends every `every`, until the server closes.
struct trickle_result {
  bool closed = false; ///< by the server (not by the 5 s guard)
  std::size_t sent = 0;
  clock_type::duration after{};
};

trickle_result trickle(uint16_t port, std::chrono::milliseconds every) {
  asio::io_context ioc;
  tcp::socket s{ioc};
  s.connect(loopback(port));
  auto t0 = clock_type::now();
  auto head
    = "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + std::string(500, 'a');
  trickle_result out;
  asio::steady_timer tick{ioc};
  asio::steady_timer guard{ioc};
  bool done = false;
  std::function<void()> next = [&] {
    tick.expires_after(every);
    tick.async_wait([&](boost::system::error_code ec) {
      if (ec || done || out.sent == head.size())
        return;
      asio::async_write(s, asio::buffer(&head[out.sent], 1),
                        [&](boost::system::error_code wec, std::size_t) {
                          if (wec)
                            return;
                          ++out.sent;
                          next();
                        });
    });
  };
  std::array<char, 256> buf;
  s.async_read_some(asio::buffer(buf),
                    [&](boost::system::error_code ec, std::size_t n) {
                      done = true;
                      out.after = clock_type::now() - t0;
                      out.closed = n == 0 && closed_by_peer(ec);
                      tick.cancel();
                      guard.cancel();
                    });
  guard.expires_after(5s);
  guard.async_wait([&](boost::system::error_code ec) {
    if (!ec)
      s.close();
  });
  next();
  ioc.run();
  return out;
}

} // namespace

TEST_CASE("health checks and requests are answered while 2000 connections "
          "idle",
          "[bank][http][connections]") {
  auto limit = raise_open_files_limit();
  REQUIRE(limit);
  // This process holds both ends of every connection.
  auto n = std::min<std::size_t>(2000, (*limit - 2 * reserved_fds) / 2);
  if (n < 2000)
    WARN("the open-file limit " << *limit << " allows only " << n
                                << " idle connections");
  REQUIRE(n >= 500);
  http_options opts;
  opts.header_timeout = 30s; // the idle ones stay for the whole test
  server_fixture fx{opts};
  CHECK(fx.server->stats().max_connections >= n + 2);
  asio::io_context ioc;
  std::vector<tcp::socket> idle;
  idle.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    idle.emplace_back(ioc);
    idle.back().connect(loopback(fx.port()));
  }
  REQUIRE(fx.connections_are(n));
  auto t0 = clock_type::now();
  http_client health{fx.port()};
  auto h = health.request(http_verb::get, "/healthz");
  CHECK(h.status == 200);
  http_client client{fx.port()};
  auto opened
    = client.request(http_verb::post, "/accounts/a/open", R"({"owner":"A"})");
  CHECK(opened.status == 200);
  CHECK(client.request(http_verb::get, "/accounts/a").doc["owner"] == "A");
  CHECK(clock_type::now() - t0 < 1s);
  auto stats = fx.server->stats();
  CHECK(stats.evicted == 0);
  CHECK(stats.refused == 0);
  // The idle ones are still served, the first and the last.
  for (auto* s : {&idle.front(), &idle.back()}) {
    auto answer = exchange(*s, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    CHECK(answer.rfind("HTTP/1.1 200", 0) == 0);
  }
}

TEST_CASE("at the connection bound the longest-idle connection is evicted, a "
          "busy one is not",
          "[bank][http][connections]") {
  http_options opts;
  opts.max_connections = 3;
  opts.header_timeout = 10s;
  server_fixture fx{opts};
  fx.backend.hold_late_answers();
  http_client oldest{fx.port()}; // connected, silent
  REQUIRE(fx.connections_are(1));
  http_client busy{fx.port()};
  REQUIRE_FALSE(busy.send("GET /accounts/slow HTTP/1.1\r\nHost: x\r\n\r\n"));
  fx.backend.await_late_answers(1); // its request is in progress
  http_client newer{fx.port()};
  REQUIRE(fx.connections_are(3));
  // At the bound: a newcomer is served, and the oldest idle one makes room.
  http_client d{fx.port()};
  CHECK(d.request(http_verb::get, "/healthz").status == 200);
  auto [oldest_bytes, oldest_ec] = oldest.read_to_end();
  CHECK(closed_by_peer(oldest_ec));
  CHECK(oldest_bytes.empty());
  CHECK(fx.server->stats().evicted == 1);
  // `d` idles now too, but `newer` has idled longer.
  http_client e{fx.port()};
  CHECK(e.request(http_verb::get, "/healthz").status == 200);
  CHECK(closed_by_peer(newer.read_to_end().second));
  CHECK(d.request(http_verb::get, "/healthz").status == 200);
  // The busy connection was never touched: it gets its answer.
  fx.backend.release_late_answers();
  CHECK(busy.read_response().status == 504);
  auto stats = fx.server->stats();
  CHECK(stats.evicted == 2);
  CHECK(stats.refused == 0);
  CHECK(stats.connections == 3);
}

TEST_CASE("a connection lingering after its last response counts and is "
          "evicted first",
          "[bank][http][connections]") {
  http_options opts;
  opts.max_connections = 2;
  opts.header_timeout = 10s;
  opts.read_timeout = 10s; // the linger would last this long
  server_fixture fx{opts};
  http_client lingering{fx.port()};
  REQUIRE(
    lingering.request(http_verb::get, "/healthz", {}, {{"Connection", "close"}})
      .status
    == 200);
  // It has the response and a FIN but keeps its end open: still counted.
  CHECK(fx.server->stats().connections == 1);
  http_client idle{fx.port()};
  REQUIRE(fx.connections_are(2));
  http_client newcomer{fx.port()};
  CHECK(newcomer.request(http_verb::get, "/healthz").status == 200);
  CHECK(fx.server->stats().evicted == 1);
  CHECK(idle.request(http_verb::get, "/healthz").status == 200);
}

TEST_CASE("when every connection is busy a new one is closed",
          "[bank][http][connections]") {
  http_options opts;
  opts.max_connections = 1;
  server_fixture fx{opts};
  fx.backend.hold_late_answers();
  http_client busy{fx.port()};
  REQUIRE_FALSE(busy.send("GET /accounts/slow HTTP/1.1\r\nHost: x\r\n\r\n"));
  fx.backend.await_late_answers(1);
  http_client refused{fx.port()};
  auto [bytes, ec] = refused.read_to_end();
  CHECK(closed_by_peer(ec));
  CHECK(bytes.empty());
  CHECK(fx.server->stats().refused == 1);
  fx.backend.release_late_answers();
  CHECK(busy.read_response().status == 504);
  // Idle again: a newcomer may evict it.
  http_client next{fx.port()};
  CHECK(next.request(http_verb::get, "/healthz").status == 200);
  CHECK(fx.server->stats().evicted == 1);
}

TEST_CASE("a client without a complete request head is cut off after the "
          "header timeout",
          "[bank][http][connections]") {
  http_options opts;
  opts.header_timeout = 200ms;
  opts.read_timeout = 3s;
  opts.keep_alive_timeout = 3s;
  server_fixture fx{opts};
  SECTION("a silent client") {
    auto t0 = clock_type::now();
    http_client silent{fx.port()};
    auto [bytes, ec] = silent.read_to_end();
    auto after = clock_type::now() - t0;
    CHECK(closed_by_peer(ec));
    CHECK(bytes.empty());
    CHECK(after >= 200ms);
    CHECK(after < opts.read_timeout);
  }
  SECTION("a slowloris client trickling its head") {
    auto r = trickle(fx.port(), 20ms);
    CHECK(r.closed);
    CHECK(r.sent >= 3); // it kept sending, and that did not help
    CHECK(r.after >= 200ms);
    CHECK(r.after < opts.read_timeout);
  }
  CHECK(fx.connections_are(0));
  http_client fine{fx.port()};
  CHECK(fine.request(http_verb::get, "/healthz").status == 200);
}

TEST_CASE("a body has the read timeout and a kept-alive connection the "
          "keep-alive timeout, not the header timeout",
          "[bank][http][connections]") {
  http_options opts;
  opts.header_timeout = 200ms;
  opts.read_timeout = 800ms;
  opts.keep_alive_timeout = 800ms;
  server_fixture fx{opts};
  SECTION("a slow body") {
    http_client c{fx.port()};
    auto t0 = clock_type::now();
    REQUIRE_FALSE(c.send("POST /accounts/a/credit HTTP/1.1\r\nHost: x\r\n"
                         "Content-Length: 20\r\n\r\n{\""));
    auto [bytes, ec] = c.read_to_end();
    CHECK(closed_by_peer(ec));
    CHECK(bytes.empty());
    // The server's timer starts as it sends, a moment before t0 here.
    CHECK(clock_type::now() - t0 >= 750ms);
  }
  SECTION("a kept-alive connection between requests") {
    http_client c{fx.port()};
    REQUIRE(c.request(http_verb::get, "/healthz").status == 200);
    auto t0 = clock_type::now();
    auto [bytes, ec] = c.read_to_end();
    CHECK(closed_by_peer(ec));
    CHECK(bytes.empty());
    // The server's timer starts as it sends, a moment before t0 here.
    CHECK(clock_type::now() - t0 >= 750ms);
  }
}
