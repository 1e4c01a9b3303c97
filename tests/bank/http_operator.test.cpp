// bank -- tests of who may do what over HTTP: operator routes (leave, parked
// events) behind a bearer token or a client certificate, HTTPS with and
// without client certificates, and the CLI's operator commands.
#include "bank/http_routes.hpp"
#include "bank/http_server.hpp"
#include "fake_bank_api.hpp"
#include "http_client.hpp"
#include "run_command.hpp"
#include "temp_dir.hpp"
#include "test_certs.hpp"

#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <caf/sec.hpp>
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <map>
#include <string>

using namespace bank;
using bank::testing::closed_by_peer;
using bank::testing::fake_bank_api;
using bank::testing::http_client;
using bank::testing::reply;
using http_verb = boost::beast::http::verb;
using namespace std::chrono_literals;

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;

constexpr const char* token = "s3cret-operator-token-0123456789";

/// Writes `text` to `path` (mode 0600).
std::string write_file(const std::string& path, const std::string& text) {
  std::ofstream{path} << text;
  ::chmod(path.c_str(), 0600);
  return path;
}

http_response route_now(api& backend, http_request req) {
  http_response out;
  out.status = 0;
  route(backend, req, [&](http_response r) { out = std::move(r); });
  return out;
}

std::string message_of(const std::string& body) {
  auto doc = nlohmann::json::parse(body, nullptr, false);
  return doc.is_object() ? doc.value("message", std::string{}) : std::string{};
}

struct server_fixture {
  explicit server_fixture(const http_options& opts) {
    auto started = http_server::start(backend, opts);
    REQUIRE(started);
    server = std::move(*started);
  }

  reply call(http_verb method, const std::string& target,
             const std::map<std::string, std::string>& headers = {}) {
    http_client c{server->port()};
    return c.request(method, target, {}, headers);
  }

  fake_bank_api backend;
  std::unique_ptr<http_server> server;
};

std::map<std::string, std::string> bearer(const std::string& t) {
  return {{"Authorization", "Bearer " + t}};
}

/// An HTTPS client on one connection; every step bounded by 5 s. The server
/// certificate is checked against `cafile` (not its host name).
class tls_client {
public:
  tls_client(uint16_t port, const std::string& cafile,
             const annals::testing::tls_identity* id = nullptr)
    : ctx_(ssl::context::tls_client) {
    ctx_.load_verify_file(cafile);
    ctx_.set_verify_mode(ssl::verify_peer);
    if (id != nullptr) {
      ctx_.use_certificate_chain_file(id->certificate);
      ctx_.use_private_key_file(id->key, ssl::context::pem);
    }
    stream_ = std::make_unique<ssl::stream<beast::tcp_stream>>(ioc_, ctx_);
    auto& tcp = stream_->next_layer();
    tcp.expires_after(5s);
    tcp.async_connect({asio::ip::make_address("127.0.0.1"), port},
                      [this](beast::error_code ec) { ec_ = ec; });
    run();
    if (ec_)
      return;
    tcp.expires_after(5s);
    stream_->async_handshake(ssl::stream_base::client,
                             [this](beast::error_code ec) { ec_ = ec; });
    run();
  }

  /// The outcome of connect and handshake.
  beast::error_code error() const {
    return ec_;
  }

  /// One request and its response; status 0 if there was none.
  reply request(http_verb method, const std::string& target,
                const std::map<std::string, std::string>& headers = {}) {
    reply r;
    if (ec_) {
      r.ec = ec_;
      return r;
    }
    http::request<http::string_body> req{method, target, 11};
    req.set(http::field::host, "127.0.0.1");
    for (auto& [k, v] : headers)
      req.set(k, v);
    req.prepare_payload();
    stream_->next_layer().expires_after(5s);
    http::async_write(*stream_, req,
                      [this](beast::error_code ec, std::size_t) { ec_ = ec; });
    run();
    if (!ec_) {
      http::response<http::string_body> res;
      stream_->next_layer().expires_after(5s);
      http::async_read(*stream_, buffer_, res,
                       [this](beast::error_code ec, std::size_t) { ec_ = ec; });
      run();
      if (!ec_) {
        r.status = res.result_int();
        r.body = res.body();
        r.doc = nlohmann::json::parse(r.body, nullptr, false);
      }
    }
    r.ec = ec_;
    return r;
  }

private:
  void run() {
    ioc_.restart();
    ioc_.run();
  }

  asio::io_context ioc_;
  ssl::context ctx_;
  std::unique_ptr<ssl::stream<beast::tcp_stream>> stream_;
  beast::flat_buffer buffer_;
  beast::error_code ec_;
};

/// A CA, a server certificate, an operator's client certificate and a
/// stranger's (from another CA).
struct pki {
  pki()
    : ca(dir.path(), "bank"), other(dir.path(), "other"),
      server(ca.issue("server")), operator_id(ca.issue("operator")),
      stranger(other.issue("stranger")) {
  }

  http_options https(const std::string& client_ca = {},
                     client_cert_mode mode = client_cert_mode::optional) {
    http_options opts;
    opts.tls.certificate_file = server.certificate;
    opts.tls.key_file = server.key;
    opts.tls.client_ca_file = client_ca;
    opts.tls.client_certs = mode;
    return opts;
  }

  annals::testing::temp_dir dir;
  annals::testing::test_ca ca;
  annals::testing::test_ca other;
  annals::testing::tls_identity server;
  annals::testing::tls_identity operator_id;
  annals::testing::tls_identity stranger;
};

} // namespace

// -- the mapping alone --------------------------------------------------------

TEST_CASE("operator routes need a valid operator credential, other routes "
          "none",
          "[bank][http][operator]") {
  fake_bank_api backend;
  backend.park({"bank.transfer-saga", "bank.transfer/t1", 2, 150, "x"});
  const std::pair<const char*, const char*> routes[] = {
    {"POST", "/cluster/leave"},
    {"GET", "/admin/parked"},
    {"POST", "/admin/parked/replay"},
  };
  for (auto [method, target] : routes) {
    INFO(method << " " << target);
    http_request req{method, target, {}, {}};
    auto unconfigured = route_now(backend, req);
    CHECK(unconfigured.status == 403);
    CHECK(message_of(unconfigured.body).find("--bank.operator-token-file")
          != std::string::npos);
    req.credential = operator_credential::absent;
    auto absent = route_now(backend, req);
    CHECK(absent.status == 401);
    CHECK(nlohmann::json::parse(absent.body)["error"] == "unauthorized");
    req.credential = operator_credential::wrong;
    auto wrong = route_now(backend, req);
    CHECK(wrong.status == 403);
    CHECK(nlohmann::json::parse(wrong.body)["error"] == "forbidden");
    req.credential = operator_credential::valid;
    CHECK(route_now(backend, req).status == 200);
  }
  CHECK(backend.leaves() == 1); // only the authorized call got through
  // A wrong method is still 405, an unknown admin route 404.
  CHECK(route_now(backend, {"GET", "/cluster/leave", {}, {}}).status == 405);
  CHECK(route_now(backend, {"GET", "/admin/other", {}, {}}).status == 404);
  // Client routes do not look at the credential.
  http_request health{"GET", "/healthz", {}, {}};
  health.credential = operator_credential::wrong;
  CHECK(route_now(backend, health).status == 200);
}

TEST_CASE("parked events are listed and replayed as JSON",
          "[bank][http][operator]") {
  fake_bank_api backend;
  backend.park({"bank.transfer-saga", "bank.transfer/t1", 2, 150,
                "annals.unavailable: owner unreachable"});
  backend.park({"bank.transfer-saga", "bank.transfer/t2", 1, 151, "poison"});
  http_request list{"GET", "/admin/parked", {}, {}};
  list.credential = operator_credential::valid;
  auto listed = route_now(backend, list);
  REQUIRE(listed.status == 200);
  auto doc = nlohmann::json::parse(listed.body);
  REQUIRE(doc["parked"].size() == 2);
  CHECK(doc["parked"][0]["consumer"] == "bank.transfer-saga");
  CHECK(doc["parked"][0]["stream"] == "bank.transfer/t1");
  CHECK(doc["parked"][0]["revision"] == 2);
  CHECK(doc["parked"][0]["position"] == 150);
  CHECK(doc["parked"][0]["reason"] == "annals.unavailable: owner unreachable");
  http_request replay{"POST", "/admin/parked/replay", {}, {}};
  replay.credential = operator_credential::valid;
  auto replayed = route_now(backend, replay);
  REQUIRE(replayed.status == 200);
  auto r = nlohmann::json::parse(replayed.body);
  CHECK(r["handled"] == 1);
  CHECK(r["remaining"] == 1);
  CHECK(nlohmann::json::parse(route_now(backend, list).body)["parked"].size()
        == 1);
}

// -- the server: bearer token -------------------------------------------------

TEST_CASE("a bearer token from a file authorizes operator routes: 401 "
          "without, 403 wrong, 200 right",
          "[bank][http][operator]") {
  annals::testing::temp_dir dir;
  http_options opts;
  opts.operator_token_file
    = write_file(dir.sub("token"), std::string{token} + "\n");
  server_fixture fx{opts};
  auto none = fx.call(http_verb::post, "/cluster/leave");
  CHECK(none.status == 401);
  CHECK(none.www_authenticate.rfind("Bearer", 0) == 0);
  auto basic = fx.call(http_verb::post, "/cluster/leave",
                       {{"Authorization", "Basic dXNlcjpwYXNz"}});
  CHECK(basic.status == 401);
  auto wrong = fx.call(http_verb::post, "/cluster/leave", bearer("s3cret"));
  CHECK(wrong.status == 403);
  CHECK(wrong.www_authenticate.empty());
  CHECK(
    fx.call(http_verb::post, "/cluster/leave", bearer(std::string{token} + "x"))
      .status
    == 403);
  CHECK(fx.backend.leaves() == 0);
  auto right = fx.call(http_verb::post, "/cluster/leave", bearer(token));
  CHECK(right.status == 200);
  CHECK(right.doc["left"] == true);
  CHECK(fx.call(http_verb::post, "/cluster/leave",
                {{"Authorization", std::string{"bearer "} + token}})
          .status
        == 200); // the scheme is case-insensitive
  CHECK(fx.backend.leaves() == 2);
  CHECK(fx.call(http_verb::get, "/admin/parked", bearer(token)).status == 200);
  // Client routes need nothing.
  CHECK(fx.call(http_verb::get, "/healthz").status == 200);
}

TEST_CASE("without an operator credential configured, operator routes are "
          "refused",
          "[bank][http][operator]") {
  server_fixture fx{http_options{}};
  auto r = fx.call(http_verb::post, "/cluster/leave", bearer(token));
  CHECK(r.status == 403);
  CHECK(r.doc["message"].get<std::string>().find("operator-token-file")
        != std::string::npos);
  CHECK(fx.call(http_verb::post, "/admin/parked/replay").status == 403);
  CHECK(fx.backend.leaves() == 0);
}

TEST_CASE("a bad operator token file stops the server from starting",
          "[bank][http][operator]") {
  annals::testing::temp_dir dir;
  fake_bank_api backend;
  http_options opts;
  opts.operator_token_file = dir.sub("missing");
  auto missing = http_server::start(backend, opts);
  REQUIRE_FALSE(missing);
  CHECK(missing.error() == caf::sec::invalid_argument);
  CHECK(http_server::check(opts) == caf::sec::invalid_argument);
  opts.operator_token_file = write_file(dir.sub("short"), "short\n");
  CHECK(http_server::check(opts) == caf::sec::invalid_argument);
  opts.operator_token_file
    = write_file(dir.sub("space"), "has a space in the token\n");
  CHECK(http_server::check(opts) == caf::sec::invalid_argument);
  opts.operator_token_file = write_file(dir.sub("good"), token);
  CHECK_FALSE(http_server::check(opts));
}

// -- the server: HTTPS --------------------------------------------------------

TEST_CASE("the server speaks HTTPS with a certificate from files",
          "[bank][http][tls]") {
  pki keys;
  server_fixture fx{keys.https()};
  tls_client c{fx.server->port(), keys.ca.cafile()};
  REQUIRE_FALSE(c.error());
  auto r = c.request(http_verb::get, "/healthz");
  CHECK(r.status == 200);
  CHECK(r.doc["status"] == "ok");
  CHECK(c.request(http_verb::get, "/cluster").status == 200); // keep-alive
  // No operator credential configured: refused over HTTPS too.
  CHECK(c.request(http_verb::post, "/cluster/leave").status == 403);
  // A client that does not trust the server's CA fails its handshake.
  tls_client distrust{fx.server->port(), keys.other.cafile()};
  CHECK(distrust.error());
}

TEST_CASE("plain HTTP to the HTTPS port is refused cleanly and the server "
          "keeps serving",
          "[bank][http][tls]") {
  pki keys;
  auto opts = keys.https();
  opts.header_timeout = 300ms;
  server_fixture fx{opts};
  http_client plain{fx.server->port()};
  auto r = plain.request(http_verb::get, "/healthz");
  CHECK(r.status == 400);
  CHECK(r.doc["error"] == "https_required");
  CHECK(closed_by_peer(plain.read_to_end().second));
  http_client garbage{fx.server->port()};
  REQUIRE_FALSE(garbage.send(std::string("\x16\x03\x01\x00\x05hello", 10)));
  CHECK(closed_by_peer(garbage.read_to_end().second));
  http_client silent{fx.server->port()}; // no ClientHello: header deadline
  CHECK(closed_by_peer(silent.read_to_end().second));
  tls_client c{fx.server->port(), keys.ca.cafile()};
  CHECK(c.request(http_verb::get, "/healthz").status == 200);
}

TEST_CASE("with client certificates required, a client without one or with "
          "a stranger's is refused",
          "[bank][http][tls]") {
  pki keys;
  server_fixture fx{keys.https(keys.ca.cafile(), client_cert_mode::required)};
  tls_client anonymous{fx.server->port(), keys.ca.cafile()};
  CHECK(anonymous.request(http_verb::get, "/healthz").status == 0);
  tls_client stranger{fx.server->port(), keys.ca.cafile(), &keys.stranger};
  CHECK(stranger.request(http_verb::get, "/healthz").status == 0);
  tls_client op{fx.server->port(), keys.ca.cafile(), &keys.operator_id};
  REQUIRE_FALSE(op.error());
  CHECK(op.request(http_verb::get, "/healthz").status == 200);
  CHECK(op.request(http_verb::post, "/cluster/leave").status == 200);
  CHECK(fx.backend.leaves() == 1);
}

TEST_CASE("a verified client certificate is an operator credential",
          "[bank][http][tls][operator]") {
  pki keys;
  server_fixture fx{keys.https(keys.ca.cafile(), client_cert_mode::optional)};
  tls_client op{fx.server->port(), keys.ca.cafile(), &keys.operator_id};
  REQUIRE_FALSE(op.error());
  auto left = op.request(http_verb::post, "/cluster/leave");
  CHECK(left.status == 200);
  CHECK(op.request(http_verb::get, "/admin/parked").status == 200);
  tls_client anonymous{fx.server->port(), keys.ca.cafile()};
  REQUIRE_FALSE(anonymous.error());
  CHECK(anonymous.request(http_verb::get, "/healthz").status == 200);
  CHECK(anonymous.request(http_verb::post, "/cluster/leave").status == 401);
  CHECK(
    anonymous.request(http_verb::post, "/cluster/leave", bearer(token)).status
    == 403); // no token configured: any token is wrong
  CHECK(fx.backend.leaves() == 1);
}

TEST_CASE("bad TLS files stop the server from starting", "[bank][http][tls]") {
  pki keys;
  fake_bank_api backend;
  auto opts = keys.https();
  opts.tls.key_file = keys.operator_id.key; // not the certificate's key
  CHECK(http_server::start(backend, opts).error()
        == caf::sec::invalid_argument);
  opts = keys.https();
  opts.tls.certificate_file = keys.dir.sub("missing.pem");
  CHECK(http_server::check(opts) == caf::sec::invalid_argument);
  opts = keys.https();
  opts.tls.key_file.clear();
  CHECK(http_server::check(opts) == caf::sec::invalid_argument);
  http_options plain;
  plain.tls.client_ca_file = keys.ca.cafile(); // a client CA needs HTTPS
  CHECK(http_server::check(plain) == caf::sec::invalid_argument);
  opts = keys.https(keys.dir.sub("missing-ca.pem"));
  CHECK(http_server::check(opts) == caf::sec::invalid_argument);
  CHECK_FALSE(http_server::check(keys.https(keys.ca.cafile())));
}

// -- the terminal client ------------------------------------------------------

namespace {

/// Runs bank-cli with `args` (and `env`, e.g. "VAR=x "); its exit status
/// and its stdout + stderr.
std::pair<int, std::string> run_cli(const std::string& args,
                                    const std::string& env = {}) {
  auto r
    = annals::testing::run_command(env + BANK_CLI_PATH + " " + args + " 2>&1");
  return {r.exit_code, r.output};
}

} // namespace

TEST_CASE("bank-cli sends the operator token from a file for leave, parked "
          "and replay-parked",
          "[bank][http][cli][operator]") {
  annals::testing::temp_dir dir;
  http_options opts;
  opts.operator_token_file = write_file(dir.sub("token"), token);
  server_fixture fx{opts};
  fx.backend.park({"bank.transfer-saga", "bank.transfer/t9", 3, 42, "boom"});
  auto node = "--node 127.0.0.1:" + std::to_string(fx.server->port()) + " ";
  auto with_token = node + "--token-file " + opts.operator_token_file + " ";
  auto [no_rc, no_out] = run_cli(node + "leave");
  CHECK(no_rc == 1);
  CHECK(no_out.find("HTTP 401") != std::string::npos);
  auto wrong_file = write_file(dir.sub("wrong"), "not-the-operator-token");
  CHECK(run_cli(node + "--token-file " + wrong_file + " leave")
          .second.find("HTTP 403")
        != std::string::npos);
  CHECK(run_cli(node + "--token-file " + dir.sub("nothing") + " leave").first
        == 2);
  auto [list_rc, list_out] = run_cli(with_token + "parked");
  CHECK(list_rc == 0);
  CHECK(list_out.find("bank.transfer/t9") != std::string::npos);
  CHECK(list_out.find("boom") != std::string::npos);
  auto [replay_rc, replay_out]
    = run_cli(node + "replay-parked",
              "BANK_OPERATOR_TOKEN_FILE=" + opts.operator_token_file + " ");
  CHECK(replay_rc == 0);
  CHECK(replay_out.find("\"handled\": 1") != std::string::npos);
  CHECK(run_cli(with_token + "leave").first == 0);
  CHECK(fx.backend.leaves() == 1);
}
