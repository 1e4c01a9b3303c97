// bank -- tests of the HTTP API: the route mapping against an in-memory
// backend, and the Beast server on 127.0.0.1 (routes, error statuses,
// idempotency keys, limits, slow and garbage clients).
#include "annals/errc.hpp"
#include "annals/persistence/errc.hpp"

#include "bank/http_routes.hpp"
#include "bank/http_server.hpp"
#include "fake_bank_api.hpp"
#include "http_client.hpp"
#include "run_command.hpp"

#include <caf/sec.hpp>
#include <catch2/catch.hpp>

#include <sys/wait.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <optional>
#include <string>
#include <utility>

using namespace bank;
using bank::testing::closed_by_peer;
using bank::testing::fake_bank_api;
using bank::testing::http_client;
using bank::testing::reply;
using http_verb = boost::beast::http::verb;
using namespace std::chrono_literals;

namespace {

http_options test_options() {
  http_options opts;
  opts.max_body = 1024;
  opts.header_timeout = 300ms;
  opts.read_timeout = 300ms;
  return opts;
}

/// A backend and a server on an OS-chosen port; the backend outlives it.
struct server_fixture {
  explicit server_fixture(http_options opts = test_options()) {
    auto started = http_server::start(backend, opts);
    REQUIRE(started);
    server = std::move(*started);
    REQUIRE(server->port() != 0);
  }

  reply get(const std::string& target) {
    http_client c{server->port()};
    return c.request(http_verb::get, target);
  }

  reply post(const std::string& target, const std::string& body,
             const std::map<std::string, std::string>& headers = {}) {
    http_client c{server->port()};
    return c.request(http_verb::post, target, body, headers);
  }

  fake_bank_api backend;
  std::unique_ptr<http_server> server;
};

/// Calls `route` directly and returns its (synchronous) response.
http_response route_now(api& backend, http_request req) {
  http_response out;
  out.status = 0;
  route(backend, req, [&](http_response r) { out = std::move(r); });
  return out;
}

} // namespace

// -- the mapping alone --------------------------------------------------------

TEST_CASE("ids are 1 to 200 bytes without control characters", "[bank][http]") {
  CHECK(valid_id("alice"));
  CHECK(valid_id(std::string(200, 'x')));
  CHECK_FALSE(valid_id(""));
  CHECK_FALSE(valid_id(std::string(201, 'x')));
  CHECK_FALSE(valid_id("a\nb"));
  CHECK_FALSE(valid_id(std::string{"a\0b", 3}));
  CHECK_FALSE(valid_id("a\x7f"));
}

TEST_CASE("backend errors map to statuses and stable codes", "[bank][http]") {
  auto status_of = [](const caf::error& err, bool not_open_is_404 = true) {
    return error_response(err, not_open_is_404).status;
  };
  CHECK(status_of(caf::make_error(bank_errc::not_open)) == 404);
  CHECK(status_of(caf::make_error(bank_errc::not_open), false) == 409);
  CHECK(status_of(caf::make_error(bank_errc::over_credit_limit)) == 409);
  CHECK(status_of(annals::make_error(annals::errc::wrong_expected_revision))
        == 409);
  CHECK(status_of(annals::make_conflict_error("s", 3)) == 409);
  CHECK(status_of(annals::make_error(annals::errc::unavailable)) == 503);
  CHECK(status_of(annals::make_error(annals::errc::outcome_unknown)) == 504);
  CHECK(status_of(annals::make_error(annals::errc::not_persisted)) == 500);
  CHECK(status_of(annals::make_error(annals::journal_errc::io_error)) == 500);
  CHECK(status_of(caf::make_error(caf::sec::runtime_error)) == 500);
  auto body = nlohmann::json::parse(
    error_response(caf::make_error(bank_errc::over_credit_limit), true).body);
  CHECK(body["error"] == "over_credit_limit");
  CHECK(body["message"].get<std::string>().find("over_credit_limit")
        != std::string::npos);
}

TEST_CASE("the mapping runs without sockets", "[bank][http]") {
  fake_bank_api backend;
  auto opened = route_now(backend, {"POST",
                                    "/accounts/a%20b/open",
                                    {},
                                    R"({"owner":"Ann","credit_limit":5})"});
  CHECK(opened.status == 200);
  auto view = route_now(backend, {"GET", "/accounts/a%20b", {}, {}});
  REQUIRE(view.status == 200);
  auto doc = nlohmann::json::parse(view.body);
  CHECK(doc["id"] == "a b"); // percent-decoded
  CHECK(doc["credit_limit"] == 5);
  CHECK(route_now(backend, {"GET", "/accounts/a%2", {}, {}}).status == 400);
  CHECK(route_now(backend, {"GET", "no-slash", {}, {}}).status == 400);
}

// -- the server: routes -------------------------------------------------------

TEST_CASE("every route answers its JSON on success", "[bank][http]") {
  server_fixture fx;
  auto opened = fx.post("/accounts/alice/open",
                        R"({"owner":"Alice","credit_limit":100})");
  REQUIRE(opened.status == 200);
  CHECK(opened.content_type == "application/json");
  CHECK(opened.doc["revision"] == 1);
  CHECK(opened.doc["first_revision"] == 1);
  CHECK(opened.doc["events"] == 1);
  CHECK(opened.doc["duplicate"] == false);

  auto credited = fx.post("/accounts/alice/credit", R"({"amount":500})");
  CHECK(credited.status == 200);
  CHECK(credited.doc["revision"] == 2);
  auto debited = fx.post("/accounts/alice/withdraw", R"({"amount":550})");
  CHECK(debited.status == 200);
  CHECK(debited.doc["revision"] == 3);

  auto acc = fx.get("/accounts/alice");
  REQUIRE(acc.status == 200);
  CHECK(acc.doc["owner"] == "Alice");
  CHECK(acc.doc["balance"] == -50);
  CHECK(acc.doc["credit_limit"] == 100);
  CHECK(acc.doc["open"] == true);
  CHECK(acc.doc["revision"] == 3);

  auto events = fx.get("/accounts/alice/events?from=2");
  REQUIRE(events.status == 200);
  REQUIRE(events.doc["events"].size() == 2);
  CHECK(events.doc["events"][0]["revision"] == 2);
  CHECK(events.doc["events"][0]["type"] == "bank.account_credited");
  CHECK(events.doc["events"][0]["data"]["amount"] == 500);
  CHECK(events.doc["events"][1]["data"]["balance"] == -50);
  CHECK(events.doc["next"] == 4);
  auto all = fx.get("/accounts/alice/events");
  CHECK(all.doc["events"].size() == 3); // from defaults to 1
  CHECK(fx.get("/accounts/alice/events?from=2&max=1").doc["events"].size()
        == 1);

  auto balance = fx.get("/balances/alice");
  REQUIRE(balance.status == 200);
  CHECK(balance.doc["known"] == true);
  CHECK(balance.doc["balance"] == -50);
  CHECK(balance.doc["position"] == 3);
  auto unknown_balance = fx.get("/balances/nobody");
  CHECK(unknown_balance.status == 200);
  CHECK(unknown_balance.doc["known"] == false);
  CHECK(unknown_balance.doc["balance"].is_null());

  auto started
    = fx.post("/transfers", R"({"id":"t1","from":"alice","to":"bob",)"
                            R"("amount":10})");
  REQUIRE(started.status == 200);
  CHECK(started.doc["duplicate"] == false);
  auto again = fx.post("/transfers", R"({"id":"t1","from":"alice",)"
                                     R"("to":"bob","amount":10})");
  CHECK(again.doc["duplicate"] == true); // the transfer id is the key
  auto t = fx.get("/transfers/t1");
  REQUIRE(t.status == 200);
  CHECK(t.doc["status"] == "started");
  CHECK(t.doc["from"] == "alice");
  CHECK(t.doc["amount"] == 10);

  auto cluster = fx.get("/cluster");
  CHECK(cluster.status == 200);
  CHECK(cluster.doc["nodes"][0]["id"] == "n1");
  auto metrics = fx.get("/metrics");
  CHECK(metrics.status == 200);
  CHECK(metrics.content_type == "text/plain; version=0.0.4");
  CHECK(metrics.body.find("bank_commands_total 7") != std::string::npos);
  auto health = fx.get("/healthz");
  CHECK(health.status == 200);
  CHECK(health.doc["status"] == "ok");
  fx.backend.set_healthy(false);
  CHECK(fx.get("/healthz").status == 503);
}

TEST_CASE("bad input is answered 400 with a message", "[bank][http]") {
  server_fixture fx;
  REQUIRE(fx.post("/accounts/a/open", R"({"owner":"A"})").status == 200);
  auto check_400 = [&](const std::string& target, const std::string& body) {
    auto r = fx.post(target, body);
    INFO(target << " " << body << " -> " << r.body);
    CHECK(r.status == 400);
    CHECK(r.doc["error"] == "bad_request");
    CHECK_FALSE(r.doc["message"].get<std::string>().empty());
  };
  check_400("/accounts/a/credit", R"({"amount":)");       // malformed
  check_400("/accounts/a/credit", "");                    // no body
  check_400("/accounts/a/credit", "[100]");               // not an object
  check_400("/accounts/a/credit", R"({"amount":"100"})"); // wrong type
  check_400("/accounts/a/credit", R"({"amount":1.5})");   // fraction
  check_400("/accounts/a/credit", R"({"amount":1e3})");   // exponent
  check_400("/accounts/a/credit", R"({"amount":9223372036854775808})");
  check_400("/accounts/a/credit", R"({"amount":-9223372036854775809})");
  check_400("/accounts/a/credit", R"({"ammount":100})");  // missing
  check_400("/accounts/a/open", R"({"owner":7})");        // wrong type
  check_400("/accounts/a/open", R"({"credit_limit":0})"); // missing owner
  check_400("/accounts/a/credit", R"({"amount":1,"command_id":5})");
  check_400("/accounts/" + std::string(201, 'x') + "/credit",
            R"({"amount":1})");                           // id too long
  check_400("/accounts/a%0Ab/credit", R"({"amount":1})"); // control char
  check_400("/accounts//credit", R"({"amount":1})");      // empty id
  check_400("/transfers", R"({"id":"t","from":"a","amount":1})");
  check_400("/transfers", R"({"id":"","from":"a","to":"b","amount":1})");
  auto bad_from = fx.get("/accounts/a/events?from=x");
  CHECK(bad_from.status == 400);
  CHECK(fx.get("/accounts/a/events?from=0").status == 400);
  // An amount at the int64 limit is well-formed: the backend decides.
  CHECK(
    fx.post("/accounts/a/credit", R"({"amount":9223372036854775807})").status
    == 200);
}

TEST_CASE("amounts <= 0 and a negative credit limit are 400, not 409",
          "[bank][http]") {
  fake_bank_api backend;
  auto post = [&](const std::string& target, const std::string& body) {
    auto r = route_now(backend, {"POST", target, {}, body});
    INFO(target << " " << body << " -> " << r.body);
    return r;
  };
  auto check_400 = [&](const std::string& target, const std::string& body,
                       const std::string& field) {
    auto r = post(target, body);
    CHECK(r.status == 400);
    auto doc = nlohmann::json::parse(r.body);
    CHECK(doc["error"] == "bad_request");
    CHECK(doc["message"].get<std::string>().find(field) != std::string::npos);
  };
  check_400("/accounts/a/open", R"({"owner":"A","credit_limit":-1})",
            "credit_limit");
  check_400("/accounts/a/open",
            R"({"owner":"A","credit_limit":-9223372036854775808})",
            "credit_limit");
  REQUIRE(post("/accounts/a/open", R"({"owner":"A","credit_limit":0})").status
          == 200);
  for (auto* what : {"credit", "withdraw"}) {
    auto target = std::string{"/accounts/a/"} + what;
    check_400(target, R"({"amount":0})", "amount");
    check_400(target, R"({"amount":-5})", "amount");
    check_400(target, R"({"amount":-9223372036854775808})", "amount");
  }
  check_400("/transfers", R"({"id":"t","from":"a","to":"b","amount":0})",
            "amount");
  check_400("/transfers", R"({"id":"t","from":"a","to":"b","amount":-1})",
            "amount");
  CHECK(post("/accounts/a/credit", R"({"amount":1})").status == 200);
  CHECK(
    post("/transfers", R"({"id":"t","from":"a","to":"b","amount":1})").status
    == 200);
  // Refused before the backend: only the open and the credit reached it.
  CHECK(backend.command_ids().size() == 2);
}

TEST_CASE("events of an unknown account are 404, a page past the end is 200",
          "[bank][http]") {
  fake_bank_api backend;
  auto get = [&](const std::string& target) {
    return route_now(backend, {"GET", target, {}, {}});
  };
  auto ghost = get("/accounts/ghost/events");
  CHECK(ghost.status == 404);
  CHECK(nlohmann::json::parse(ghost.body)["error"] == "not_open");
  CHECK(get("/accounts/ghost/events?from=7").status == 404);
  // A refused open writes no event: the account stays unknown.
  REQUIRE(
    route_now(
      backend,
      {"POST", "/accounts/a/open", {}, R"({"owner":"A","credit_limit":-1})"})
      .status
    == 400);
  CHECK(get("/accounts/a/events").status == 404);
  REQUIRE(
    route_now(
      backend,
      {"POST", "/accounts/a/open", {}, R"({"owner":"A","credit_limit":5})"})
      .status
    == 200);
  CHECK(get("/accounts/a/events").status == 200);
  auto past = get("/accounts/a/events?from=2");
  REQUIRE(past.status == 200);
  auto doc = nlohmann::json::parse(past.body);
  CHECK(doc["events"].empty());
  CHECK(doc["next"] == 2);
  CHECK(get("/accounts/a/events?from=1000").status == 200);
}

TEST_CASE("ids must be well-formed UTF-8", "[bank][http]") {
  // Well-formed: 2-, 3- and 4-byte sequences, the last code point, the
  // code points just around the surrogates.
  CHECK(valid_id("Zo\xc3\xab"));
  CHECK(valid_id("\xe6\x97\xa5\xe6\x9c\xac"));
  CHECK(valid_id("\xf0\x9f\x98\x80"));
  CHECK(valid_id("\xf4\x8f\xbf\xbf"));       // U+10FFFF
  CHECK(valid_id("\xed\x9f\xbf"));           // U+D7FF
  CHECK(valid_id("\xee\x80\x80"));           // U+E000
  CHECK(valid_id("\xc2\x80"));               // U+0080, shortest 2-byte
  CHECK(valid_id("\xe0\xa0\x80"));           // U+0800, shortest 3-byte
  CHECK(valid_id("\xf0\x90\x80\x80"));       // U+10000, shortest 4-byte
  CHECK_FALSE(valid_id("\xff\xfe"));         // never in UTF-8
  CHECK_FALSE(valid_id("\x80"));             // a lone continuation byte
  CHECK_FALSE(valid_id("a\xc3"));            // truncated at the end
  CHECK_FALSE(valid_id("\xe6\x97"));         // truncated 3-byte
  CHECK_FALSE(valid_id("\xc3("));            // bad continuation
  CHECK_FALSE(valid_id("\xc0\xaf"));         // overlong '/'
  CHECK_FALSE(valid_id("\xc1\xbf"));         // overlong
  CHECK_FALSE(valid_id("\xe0\x80\xaf"));     // overlong 3-byte
  CHECK_FALSE(valid_id("\xe0\x9f\xbf"));     // overlong U+07FF
  CHECK_FALSE(valid_id("\xf0\x80\x80\xaf")); // overlong 4-byte
  CHECK_FALSE(valid_id("\xf0\x8f\xbf\xbf")); // overlong U+FFFF
  CHECK_FALSE(valid_id("\xed\xa0\x80"));     // surrogate U+D800
  CHECK_FALSE(valid_id("\xed\xbf\xbf"));     // surrogate U+DFFF
  CHECK_FALSE(valid_id("\xf4\x90\x80\x80")); // U+110000
  CHECK_FALSE(valid_id("\xf5\x80\x80\x80"));
  CHECK_FALSE(valid_id("\xf8\x88\x80\x80\x80"));         // 5-byte form
  CHECK_FALSE(valid_id(std::string(199, 'x') + "\xc3")); // cut at the limit

  fake_bank_api backend;
  auto call = [&](std::string method, std::string target, std::string body,
                  std::optional<std::string> key = std::nullopt) {
    auto r = route_now(backend, {std::move(method), std::move(target),
                                 std::move(key), std::move(body)});
    INFO(r.body);
    auto doc = nlohmann::json::parse(r.body, nullptr, false);
    CHECK_FALSE(doc.is_discarded()); // every answer is valid JSON
    return std::make_pair(r.status, doc);
  };
  auto [bad_open, bad_doc]
    = call("POST", "/accounts/%FF%FE/open", R"({"owner":"X"})");
  CHECK(bad_open == 400);
  CHECK(bad_doc["error"] == "bad_request");
  CHECK(bad_doc["message"].get<std::string>().find("UTF-8")
        != std::string::npos);
  CHECK(backend.command_ids().empty()); // refused before the backend
  CHECK(call("GET", "/accounts/%C0%AF", {}).first == 400);
  CHECK(call("GET", "/accounts/%ED%A0%80/events", {}).first == 400);
  CHECK(call("GET", "/transfers/%F4%90%80%80", {}).first == 400);
  CHECK(call("GET", "/balances/a%E6%97", {}).first == 400);
  // Well-formed UTF-8 in the path works and comes back as it was.
  CHECK(call("POST", "/accounts/Zo%C3%AB/open", R"({"owner":"Z"})").first
        == 200);
  auto [got, got_doc] = call("GET", "/accounts/Zo%C3%AB", {});
  CHECK(got == 200);
  CHECK(got_doc["id"] == "Zo\xc3\xab");
  // The Idempotency-Key header, and ids in bodies.
  CHECK(call("POST", "/accounts/Zo%C3%AB/credit", R"({"amount":1})",
             std::string{"k\xff"})
          .first
        == 400);
  CHECK(call("POST", "/accounts/Zo%C3%AB/credit", R"({"amount":1})",
             std::string{"k\xc3\xab"})
          .first
        == 200);
  CHECK(call("POST", "/accounts/Zo%C3%AB/credit",
             "{\"amount\":1,\"command_id\":\"\xed\xa0\x80\"}")
          .first
        == 400);
  CHECK(call("POST", "/transfers",
             "{\"id\":\"t\xc0\xaf\",\"from\":\"a\",\"to\":\"b\",\"amount\":1}")
          .first
        == 400);
  CHECK(call("POST", "/transfers",
             R"({"id":"t\ud800","from":"a","to":"b","amount":1})")
          .first
        == 400); // a lone surrogate escape
  CHECK(call("POST", "/transfers",
             R"({"id":"t\u00eb","from":"a","to":"b","amount":1})")
          .first
        == 200);
}

TEST_CASE("a body with a duplicated key is 400", "[bank][http]") {
  fake_bank_api backend;
  auto post = [&](const std::string& target, const std::string& body) {
    auto r = route_now(backend, {"POST", target, {}, body});
    INFO(target << " " << body << " -> " << r.body);
    return r;
  };
  auto check_400 = [&](const std::string& target, const std::string& body) {
    auto r = post(target, body);
    CHECK(r.status == 400);
    CHECK(r.body.find("duplicate") != std::string::npos);
  };
  REQUIRE(post("/accounts/a/open", R"({"owner":"A"})").status == 200);
  check_400("/accounts/a/credit", R"({"amount":1,"amount":100000})");
  check_400("/accounts/a/credit", R"({"amount":1,"\u0061mount":100000})");
  check_400("/accounts/a/withdraw", R"({"amount":1,"amount":1})");
  check_400("/accounts/b/open", R"({"owner":"B","owner":"C"})");
  check_400("/transfers", R"({"id":"t","from":"a","to":"b","amount":1,)"
                          R"("amount":9})");
  // In nested objects too, at any depth.
  check_400("/accounts/b/open", R"({"owner":"B","x":{"k":1,"k":2}})");
  check_400("/accounts/b/open", R"({"owner":"B","x":[{"y":{"k":1,"k":2}}]})");
  // The same key in different objects is no duplicate.
  CHECK(post("/accounts/b/open", R"({"owner":"B","x":{"owner":1,"x":{"x":2}},)"
                                 R"("y":[{"k":1},{"k":2}]})")
          .status
        == 200);
  auto acc = route_now(backend, {"GET", "/accounts/a", {}, {}});
  CHECK(nlohmann::json::parse(acc.body)["balance"] == 0); // nothing credited
}

namespace {

/// The fake backend whose events also carry correlation and causation ids.
class correlating_backend : public fake_bank_api {
public:
  void account_events(const std::string& id, uint64_t from_revision,
                      uint32_t max,
                      completion<std::vector<event_line>> done) override {
    fake_bank_api::account_events(
      id, from_revision, max,
      [done](caf::expected<std::vector<event_line>> lines) {
        if (lines)
          for (auto& line : *lines) {
            line.meta.correlation_id = "corr-" + line.meta.command_id;
            line.meta.causation_id = "cause-" + line.meta.command_id;
          }
        done(std::move(lines));
      });
  }
};

} // namespace

TEST_CASE("every event carries its metadata", "[bank][http]") {
  fake_bank_api backend;
  auto post = [&](const std::string& target, const std::string& body,
                  std::optional<std::string> key = std::nullopt) {
    return route_now(backend, {"POST", target, std::move(key), body}).status;
  };
  REQUIRE(post("/accounts/a/open", R"({"owner":"A","command_id":"open-a"})")
          == 200);
  REQUIRE(post("/accounts/b/open", R"({"owner":"B"})") == 200);
  REQUIRE(post("/accounts/a/credit", R"({"amount":5})", "pay-1") == 200);
  REQUIRE(post("/accounts/a/withdraw", R"({"amount":2})") == 200);
  auto r = route_now(backend, {"GET", "/accounts/a/events", {}, {}});
  REQUIRE(r.status == 200);
  auto events = nlohmann::json::parse(r.body)["events"];
  REQUIRE(events.size() == 3);
  for (auto& e : events) {
    INFO(e.dump());
    REQUIRE(e.contains("metadata"));
    auto& m = e["metadata"];
    CHECK(m["partition"] == fake_bank_api::fake_partition);
    CHECK(m["epoch"] == fake_bank_api::fake_epoch);
    CHECK(m["timestamp_ns"] == e["timestamp_ns"]); // kept at the top too
    CHECK_FALSE(m.contains("correlation_id"));     // only when present
    CHECK_FALSE(m.contains("causation_id"));
  }
  CHECK(events[0]["metadata"]["command_id"] == "open-a");
  CHECK(events[1]["metadata"]["command_id"] == "pay-1");
  CHECK(events[2]["metadata"]["command_id"].is_null()); // none given
  // Positions count across accounts (b's open came between).
  CHECK(events[0]["metadata"]["position"] == 1);
  CHECK(events[1]["metadata"]["position"] == 3);
  CHECK(events[2]["metadata"]["position"] == 4);

  correlating_backend corr;
  REQUIRE(route_now(corr, {"POST", "/accounts/c/open", std::string{"c-1"},
                           R"({"owner":"C"})"})
            .status
          == 200);
  auto c = route_now(corr, {"GET", "/accounts/c/events", {}, {}});
  REQUIRE(c.status == 200);
  auto m = nlohmann::json::parse(c.body)["events"][0]["metadata"];
  CHECK(m["command_id"] == "c-1");
  CHECK(m["correlation_id"] == "corr-c-1");
  CHECK(m["causation_id"] == "cause-c-1");
}

TEST_CASE("unknown routes and accounts are 404, wrong methods 405",
          "[bank][http]") {
  server_fixture fx;
  auto nothing = fx.get("/nothing/here");
  CHECK(nothing.status == 404);
  CHECK(nothing.doc["error"] == "not_found");
  CHECK(fx.get("/accounts/a/b/c").status == 404);
  CHECK(fx.get("/accounts/a/").status == 404);
  auto unknown = fx.get("/accounts/ghost");
  CHECK(unknown.status == 404);
  CHECK(unknown.doc["error"] == "not_open");
  auto credit_ghost = fx.post("/accounts/ghost/credit", R"({"amount":5})");
  CHECK(credit_ghost.status == 404);
  CHECK(credit_ghost.doc["error"] == "not_open");
  CHECK(fx.get("/transfers/ghost").status == 404);
  auto wrong = fx.get("/accounts/a/credit");
  CHECK(wrong.status == 405);
  CHECK(wrong.allow == "POST");
  CHECK(wrong.doc["error"] == "method_not_allowed");
  auto wrong_post = fx.post("/accounts/a", "{}");
  CHECK(wrong_post.status == 405);
  CHECK(wrong_post.allow == "GET");
  http_client c{fx.server->port()};
  CHECK(c.request(http_verb::delete_, "/healthz").status == 405);
}

TEST_CASE("rejections and conflicts are 409, unavailable 503, unknown "
          "outcome 504",
          "[bank][http]") {
  server_fixture fx;
  REQUIRE(
    fx.post("/accounts/bob/open", R"({"owner":"Bob","credit_limit":50})").status
    == 200);
  auto over = fx.post("/accounts/bob/withdraw", R"({"amount":51})");
  CHECK(over.status == 409);
  CHECK(over.doc["error"] == "over_credit_limit");
  auto twice = fx.post("/accounts/bob/open", R"({"owner":"Bob"})");
  CHECK(twice.status == 409);
  CHECK(twice.doc["error"] == "already_open");
  auto same
    = fx.post("/transfers", R"({"id":"t","from":"bob","to":"bob","amount":1})");
  CHECK(same.status == 409);
  CHECK(same.doc["error"] == "same_account");
  auto conflict = fx.post("/accounts/conflict/credit", R"({"amount":1})");
  CHECK(conflict.status == 409);
  CHECK(conflict.doc["error"] == "wrong_expected_revision");
  CHECK(fx.post("/accounts/jconflict/credit", R"({"amount":1})").status == 409);
  auto down = fx.post("/accounts/down/credit", R"({"amount":1})");
  CHECK(down.status == 503);
  CHECK(down.doc["error"] == "unavailable");
  CHECK(fx.get("/accounts/down").status == 503);
  auto slow = fx.post("/accounts/slow/credit", R"({"amount":1})");
  CHECK(slow.status == 504); // answered late, from another thread
  CHECK(slow.doc["error"] == "outcome_unknown");
  CHECK(slow.doc["message"].get<std::string>().find("same command_id")
        != std::string::npos);
  auto broken = fx.post("/accounts/broken/credit", R"({"amount":1})");
  CHECK(broken.status == 500);
  CHECK(broken.doc["error"] == "not_persisted");
}

TEST_CASE("an idempotency key reaches the backend and a retry is a duplicate",
          "[bank][http]") {
  server_fixture fx;
  REQUIRE(fx.post("/accounts/c/open", R"({"owner":"C"})").status == 200);
  auto first = fx.post("/accounts/c/credit", R"({"amount":7})",
                       {{"Idempotency-Key", "pay-1"}});
  REQUIRE(first.status == 200);
  CHECK(first.doc["duplicate"] == false);
  auto retry = fx.post("/accounts/c/credit", R"({"amount":7})",
                       {{"Idempotency-Key", "pay-1"}});
  REQUIRE(retry.status == 200);
  CHECK(retry.doc["duplicate"] == true);
  CHECK(retry.doc["revision"] == first.doc["revision"]);
  auto by_body
    = fx.post("/accounts/c/credit", R"({"amount":7,"command_id":"pay-2"})");
  CHECK(by_body.status == 200);
  auto both
    = fx.post("/accounts/c/credit", R"({"amount":7,"command_id":"pay-3"})",
              {{"Idempotency-Key", "pay-3"}});
  CHECK(both.status == 200);
  auto ids = fx.backend.command_ids();
  REQUIRE(ids.size() == 5);
  CHECK(ids[0].empty());
  CHECK(ids[1] == "pay-1");
  CHECK(ids[2] == "pay-1");
  CHECK(ids[3] == "pay-2");
  CHECK(ids[4] == "pay-3");
  CHECK(fx.get("/accounts/c").doc["balance"] == 21); // the retry added 0
  auto disagree
    = fx.post("/accounts/c/credit", R"({"amount":7,"command_id":"x"})",
              {{"Idempotency-Key", "y"}});
  CHECK(disagree.status == 400);
  CHECK(fx.backend.command_ids().size() == 5); // refused before the backend
}

// -- the server: robustness ---------------------------------------------------

TEST_CASE("keep-alive serves several requests on one connection",
          "[bank][http]") {
  server_fixture fx;
  http_client c{fx.server->port()};
  for (int i = 0; i < 3; ++i) {
    auto r = c.request(http_verb::get, "/healthz");
    CHECK(r.status == 200);
    CHECK(r.connection != "close");
  }
  auto last
    = c.request(http_verb::get, "/healthz", {}, {{"Connection", "close"}});
  CHECK(last.status == 200);
  CHECK(closed_by_peer(c.read_to_end().second));
}

TEST_CASE("a body over max_body is answered 413 without being read",
          "[bank][http]") {
  server_fixture fx; // max_body 1024
  http_client c{fx.server->port()};
  // Announce 1 MiB, send 10 bytes, then wait: the answer must not need the
  // rest.
  REQUIRE_FALSE(c.send("POST /accounts/a/credit HTTP/1.1\r\nHost: x\r\n"
                       "Content-Type: application/json\r\n"
                       "Content-Length: 1048576\r\n\r\n{\"amount\":"));
  auto r = c.read_response();
  REQUIRE_FALSE(r.ec);
  CHECK(r.status == 413);
  CHECK(r.doc["error"] == "payload_too_large");
  CHECK(closed_by_peer(c.read_to_end().second));
  // A chunked body over the limit too.
  http_client chunked{fx.server->port()};
  std::string big(2000, 'x');
  REQUIRE_FALSE(chunked.send("POST /accounts/a/credit HTTP/1.1\r\nHost: x\r\n"
                             "Transfer-Encoding: chunked\r\n\r\n7d0\r\n"
                             + big + "\r\n0\r\n\r\n"));
  CHECK(chunked.read_response().status == 413);
  CHECK(fx.get("/healthz").status == 200);
}

TEST_CASE("a slow client is cut off after the header timeout while others "
          "are served",
          "[bank][http]") {
  server_fixture fx; // header_timeout 300 ms
  auto t0 = std::chrono::steady_clock::now();
  http_client slow{fx.server->port()};
  REQUIRE_FALSE(slow.send("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slo"));
  // Meanwhile another client gets its answers.
  auto served = fx.get("/healthz");
  auto served_at = std::chrono::steady_clock::now();
  CHECK(served.status == 200);
  auto [bytes, ec] = slow.read_to_end();
  auto cut_at = std::chrono::steady_clock::now();
  CHECK(closed_by_peer(ec));
  CHECK(bytes.empty());
  CHECK(served_at < cut_at);
  CHECK(cut_at - t0 >= 300ms);
  CHECK(cut_at - t0 < http_client::deadline);
  CHECK(fx.get("/healthz").status == 200);
}

TEST_CASE("garbage gets 400 or a close and the server keeps serving",
          "[bank][http]") {
  server_fixture fx;
  const std::string garbage[] = {
    std::string("\x00\xff\x13garbage\r\n\r\n", 14),
    "GET\r\n\r\n",
    "GET / HTTP/1.1 extra\r\n\r\n",
    "POST /transfers HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
    "POST /transfers HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: "
    "6\r\n\r\n",
    "POST /transfers HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    "GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",
    "GET /healthz HTTP/1.1\r\n" + std::string(20000, 'h') + ": v\r\n\r\n",
  };
  for (const auto& bytes : garbage) {
    INFO("sending " << nlohmann::json(bytes).dump(
           -1, ' ', false, nlohmann::json::error_handler_t::replace));
    http_client c{fx.server->port()};
    REQUIRE_FALSE(c.send(bytes));
    auto [answer, ec] = c.read_to_end();
    CHECK(closed_by_peer(ec));
    if (!answer.empty()) {
      bool is_4xx = answer.rfind("HTTP/1.1 400", 0) == 0
                    || answer.rfind("HTTP/1.1 431", 0) == 0;
      CHECK(is_4xx);
    }
    CHECK(fx.get("/healthz").status == 200);
  }
}

TEST_CASE("the server reports a taken port and stops idempotently",
          "[bank][http]") {
  server_fixture fx;
  auto opts = test_options();
  opts.port = fx.server->port();
  fake_bank_api other;
  auto clash = http_server::start(other, opts);
  REQUIRE_FALSE(clash);
  CHECK(clash.error() == caf::sec::cannot_open_port);
  opts.port = 0;
  opts.address = "not an address";
  CHECK(http_server::start(other, opts).error() == caf::sec::invalid_argument);
  auto port = fx.server->port();
  http_client held{port}; // an open connection does not block the stop
  REQUIRE(held.request(http_verb::get, "/healthz").status == 200);
  fx.server->stop();
  fx.server->stop();
  CHECK(closed_by_peer(held.read_to_end().second));
  http_client after{port};
  CHECK(after.error());
}

TEST_CASE("a backend answer arriving after stop is dropped safely",
          "[bank][http]") {
  fake_bank_api backend; // outlives the server and answers after it
  auto started = http_server::start(backend, test_options());
  REQUIRE(started);
  auto server = std::move(*started);
  backend.hold_late_answers();
  http_client c{server->port()};
  REQUIRE_FALSE(c.send("GET /accounts/slow HTTP/1.1\r\nHost: x\r\n\r\n"));
  backend.await_late_answers(1);
  server->stop();
  auto [bytes, ec] = c.read_to_end();
  CHECK(closed_by_peer(ec));
  CHECK(bytes.empty()); // the late 504 went nowhere
  server.reset();
  backend.release_late_answers();
  // ~fake_bank_api joins the late answer, which posts to the stopped
  // io_context it keeps alive (ASan watches this).
}

// -- the terminal client ------------------------------------------------------

namespace {

/// Runs bank-cli with `args`; its exit status and its stdout + stderr.
std::pair<int, std::string> run_cli(const std::string& args) {
  auto r = annals::testing::run_command(std::string{BANK_CLI_PATH} + " " + args
                                        + " 2>&1");
  return {r.exit_code, r.output};
}

} // namespace

TEST_CASE("bank-cli exits 0 on success, 1 on an HTTP error, 2 on misuse",
          "[bank][http][cli]") {
  server_fixture fx;
  auto node = "--node 127.0.0.1:" + std::to_string(fx.server->port()) + " ";
  auto [open_rc, open_out] = run_cli(node + "open 'a b' Ann 100");
  CHECK(open_rc == 0);
  CHECK(open_out.find("\"revision\": 1") != std::string::npos);
  CHECK(run_cli(node + "--command-id k-1 credit 'a b' 5").first == 0);
  CHECK(run_cli(node + "--command-id k-1 credit 'a b' 5")
          .second.find("\"duplicate\": true")
        != std::string::npos);
  CHECK(fx.backend.command_ids().back() == "k-1");
  auto [acc_rc, acc_out] = run_cli(node + "account 'a b'");
  CHECK(acc_rc == 0);
  CHECK(acc_out.find("\"balance\": 5") != std::string::npos);
  auto [over_rc, over_out] = run_cli(node + "withdraw 'a b' 1000");
  CHECK(over_rc == 1);
  CHECK(over_out.find("HTTP 409") != std::string::npos);
  CHECK(run_cli(node + "account ghost").first == 1);
  CHECK(run_cli(node + "health").first == 0);
  CHECK(run_cli(node + "credit 'a b' lots").first == 2);
  CHECK(run_cli(node + "frobnicate").first == 2);
  fx.server->stop();
  auto [down_rc, down_out] = run_cli(node + "health");
  CHECK(down_rc == 2);
  CHECK(down_out.find("cannot talk to") != std::string::npos);
}
