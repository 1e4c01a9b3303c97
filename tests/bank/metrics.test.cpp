// bank -- the HTTP API's own metrics: requests by route template, method
// and status (never an id), their latency histogram, refusals before
// routing, process metrics, label escaping, and the rendered text through
// promtool.
#include "bank/metrics.hpp"

#include "bank/http_routes.hpp"
#include "bank/http_server.hpp"
#include "fake_bank_api.hpp"
#include "http_client.hpp"
#include "promtool.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <ctime>
#include <sstream>

using namespace bank;
using bank::testing::fake_bank_api;
using bank::testing::http_client;
using bank::testing::promtool_check;
using bank::testing::sample;
using http_verb = boost::beast::http::verb;
using namespace std::chrono_literals;

namespace {

http_response route_now(api& backend, http_request req) {
  http_response out;
  out.status = 0;
  route(backend, req, [&](http_response r) { out = std::move(r); });
  return out;
}

std::string scrape(api& backend) {
  auto r = route_now(backend, {"GET", "/metrics", {}, {}});
  REQUIRE(r.status == 200);
  return r.body;
}

double requests(const std::string& text, const std::string& route,
                const std::string& method, unsigned code) {
  return sample(text, "annals_http_requests_total{route=\"" + route
                        + "\",method=\"" + method + "\",code=\""
                        + std::to_string(code) + "\"}")
    .value_or(0);
}

} // namespace

TEST_CASE("requests are counted by route template, method and status, "
          "never by id",
          "[bank][http][metrics]") {
  fake_bank_api backend;
  auto before = scrape(backend);
  REQUIRE(
    route_now(backend,
              {"POST", "/accounts/secret-id-1/open", {}, R"({"owner":"A"})"})
      .status
    == 200);
  CHECK(route_now(backend, {"GET", "/accounts/secret-id-1", {}, {}}).status
        == 200);
  CHECK(route_now(backend, {"GET", "/accounts/secret-id-2", {}, {}}).status
        == 404);
  CHECK(
    route_now(backend, {"POST", "/accounts/secret-id-1/credit", {}, "not json"})
      .status
    == 400);
  CHECK(route_now(backend, {"DELETE", "/accounts/secret-id-1", {}, {}}).status
        == 405);
  CHECK(route_now(backend, {"GET", "/no/such/route/secret-id-3", {}, {}}).status
        == 404);
  CHECK(route_now(backend, {"BREW", "/healthz", {}, {}}).status == 405);
  auto after = scrape(backend);
  auto delta
    = [&](const std::string& route, const std::string& method, unsigned code) {
        return requests(after, route, method, code)
               - requests(before, route, method, code);
      };
  CHECK(delta("/accounts/{id}/open", "POST", 200) == 1);
  CHECK(delta("/accounts/{id}", "GET", 200) == 1);
  CHECK(delta("/accounts/{id}", "GET", 404) == 1);
  CHECK(delta("/accounts/{id}/credit", "POST", 400) == 1);
  CHECK(delta("/accounts/{id}", "DELETE", 405) == 1);
  CHECK(delta("(unmatched)", "GET", 404) == 1);
  CHECK(delta("/healthz", "(other)", 405) == 1);
  // The scrape before this one was counted too.
  CHECK(delta("/metrics", "GET", 200) >= 1);
  CHECK(after.find("secret-id") == std::string::npos);
  // Latency: one histogram per route and method, cumulative buckets.
  auto count = sample(after, "annals_http_request_duration_seconds_count{"
                             "route=\"/accounts/{id}\",method=\"GET\"}");
  auto inf
    = sample(after, "annals_http_request_duration_seconds_bucket{"
                    "route=\"/accounts/{id}\",method=\"GET\",le=\"+Inf\"}");
  REQUIRE(count);
  REQUIRE(inf);
  CHECK(*inf == *count);
  CHECK(*count >= 2);
  auto small
    = sample(after, "annals_http_request_duration_seconds_bucket{"
                    "route=\"/accounts/{id}\",method=\"GET\",le=\"0.0005\"}");
  REQUIRE(small);
  CHECK(*small <= *inf);
}

TEST_CASE("requests refused before routing are counted as unrouted",
          "[bank][http][metrics]") {
  fake_bank_api backend;
  http_options opts;
  opts.max_body = 64;
  auto server = http_server::start(backend, opts);
  REQUIRE(server);
  auto unrouted = [&](unsigned code) {
    return sample(scrape(backend),
                  "annals_http_requests_total{route=\"(unrouted)\",method=\""
                  "(other)\",code=\""
                    + std::to_string(code) + "\"}")
      .value_or(0);
  };
  auto before = unrouted(413);
  http_client c{(*server)->port()};
  auto r
    = c.request(http_verb::post, "/accounts/a/credit", std::string(1000, 'x'));
  CHECK(r.status == 413);
  CHECK(unrouted(413) == before + 1);
  // Routed requests through the server are counted once, by route.
  auto scrape_before = scrape(backend);
  http_client c2{(*server)->port()};
  CHECK(c2.request(http_verb::get, "/healthz").status == 200);
  auto scrape_after = scrape(backend);
  CHECK(requests(scrape_after, "/healthz", "GET", 200)
        == requests(scrape_before, "/healthz", "GET", 200) + 1);
  CHECK(unrouted(200) == 0);
}

TEST_CASE("the process metrics come from /proc and are plausible",
          "[bank][metrics]") {
  auto text = process_metrics_text();
  INFO(text);
  auto rss = sample(text, "process_resident_memory_bytes");
  auto fds = sample(text, "process_open_fds");
  auto cpu = sample(text, "process_cpu_seconds_total");
  auto start = sample(text, "process_start_time_seconds");
  auto max_fds = sample(text, "process_max_fds");
  REQUIRE(rss);
  REQUIRE(fds);
  REQUIRE(cpu);
  REQUIRE(start);
  CHECK(*rss > 1024 * 1024);
  CHECK(*fds >= 3); // stdin, stdout, stderr at least
  CHECK(*fds < 10000);
  CHECK(*cpu >= 0);
  auto now = static_cast<double>(std::time(nullptr));
  CHECK(*start <= now + 1);
  CHECK(*start > now - 24 * 3600);
  if (max_fds)
    CHECK(*max_fds >= *fds);
  // An open descriptor more shows.
  FILE* extra = std::fopen("/proc/self/stat", "r");
  REQUIRE(extra != nullptr);
  auto more = sample(process_metrics_text(), "process_open_fds");
  std::fclose(extra);
  REQUIRE(more);
  CHECK(*more == *fds + 1);
}

TEST_CASE("label values are escaped and numbers keep their digits",
          "[bank][metrics]") {
  CHECK(prom_label_value("plain") == "plain");
  CHECK(prom_label_value("a\"b\\c\nd") == "a\\\"b\\\\c\\nd");
  CHECK(prom_number(1234567) == "1234567");
  CHECK(prom_number(0.0005) == "0.0005");
  CHECK(prom_number(0.00001) == "1e-05");
  CHECK(prom_number(2.5) == "2.5");
  CHECK(http_method_label("GET") == "GET");
  CHECK(http_method_label("G\"ET") == "(other)");
  http_metrics m;
  m.observe("POST", "/odd\"route\\with\nbreak", 200, 0.002);
  auto text = m.render();
  CHECK(text.find("route=\"/odd\\\"route\\\\with\\nbreak\"")
        != std::string::npos);
  if (auto res = promtool_check(text)) {
    INFO(res->output);
    CHECK(res->exit_code == 0);
  }
}

TEST_CASE("the HTTP and process metrics pass promtool check metrics",
          "[bank][metrics][promtool]") {
  http_metrics m;
  m.observe("GET", "/accounts/{id}", 200, 0.0001);
  m.observe("GET", "/accounts/{id}", 404, 0.3);
  m.observe("POST", "/transfers", 503, 12);
  m.observe("", "(unrouted)", 413, -1);
  auto text = m.render() + process_metrics_text();
  auto res = promtool_check(text);
  if (!res)
    return;
  INFO(text << "\n" << res->output);
  CHECK(res->exit_code == 0);
}
