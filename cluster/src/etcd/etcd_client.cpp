// annals -- event-sourced aggregates on the C++ Actor Framework.
#include "etcd/etcd_client.hpp"

#include "etcd/client_state.hpp"
#include "etcd/codec.hpp"
#include "etcd/etcd_errc.hpp"

#include <boost/asio/error.hpp>
#include <boost/beast/http/field.hpp>

#include <nlohmann/json.hpp>

namespace annals::cluster::etcd {

namespace http = boost::beast::http;
using json = nlohmann::json;
using detail::clock;

namespace {

/// Largest response body accepted (a range over many keys).
constexpr uint64_t max_body = 64u << 20;

const char* to_json(compare::target x) {
  switch (x) {
  case compare::target::version:
    return "VERSION";
  case compare::target::create:
    return "CREATE";
  case compare::target::mod:
    return "MOD";
  case compare::target::value:
    return "VALUE";
  case compare::target::lease:
    return "LEASE";
  }
  return "VERSION";
}

const char* to_json(compare::op x) {
  switch (x) {
  case compare::op::equal:
    return "EQUAL";
  case compare::op::not_equal:
    return "NOT_EQUAL";
  case compare::op::greater:
    return "GREATER";
  case compare::op::less:
    return "LESS";
  }
  return "EQUAL";
}

json range_body(const std::string& key, bool prefix, consistency c) {
  json body{{"key", detail::base64_encode(
                      prefix && key.empty() ? std::string(1, '\0') : key)}};
  if (prefix)
    body["range_end"] = detail::base64_encode(prefix_end(key));
  if (c == consistency::serializable)
    body["serializable"] = true;
  return body;
}

json delete_body(const std::string& key, bool prefix) {
  json body{{"key", detail::base64_encode(
                      prefix && key.empty() ? std::string(1, '\0') : key)}};
  if (prefix)
    body["range_end"] = detail::base64_encode(prefix_end(key));
  return body;
}

json put_body(const std::string& key, const std::string& value, int64_t lease) {
  json body{{"key", detail::base64_encode(key)},
            {"value", detail::base64_encode(value)}};
  if (lease != 0)
    body["lease"] = std::to_string(lease);
  return body;
}

json compare_body(const compare& c) {
  json body{{"key", detail::base64_encode(c.key)},
            {"target", to_json(c.what)},
            {"result", to_json(c.result)}};
  switch (c.what) {
  case compare::target::version:
    body["version"] = std::to_string(c.number);
    break;
  case compare::target::create:
    body["create_revision"] = std::to_string(c.number);
    break;
  case compare::target::mod:
    body["mod_revision"] = std::to_string(c.number);
    break;
  case compare::target::lease:
    body["lease"] = std::to_string(c.number);
    break;
  case compare::target::value:
    body["value"] = detail::base64_encode(c.value);
    break;
  }
  return body;
}

json op_body(const request_op& op) {
  switch (op.type) {
  case request_op::kind::put:
    return {{"request_put", put_body(op.key, op.value, op.lease)}};
  case request_op::kind::erase:
    return {{"request_delete_range", delete_body(op.key, op.prefix)}};
  case request_op::kind::range:
    break;
  }
  return {{"request_range",
           range_body(op.key, op.prefix, consistency::linearizable)}};
}

caf::error malformed(const std::string& where, const std::string& what) {
  return make_error(etcd_errc::malformed_response, where + ": " + what);
}

} // namespace

// -- value helpers
// -------------------------------------------------------------

compare compare::version(std::string key, op o, int64_t n) {
  return {std::move(key), target::version, o, n, {}};
}

compare compare::create_revision(std::string key, op o, int64_t n) {
  return {std::move(key), target::create, o, n, {}};
}

compare compare::mod_revision(std::string key, op o, int64_t n) {
  return {std::move(key), target::mod, o, n, {}};
}

compare compare::lease(std::string key, op o, int64_t lease_id) {
  return {std::move(key), target::lease, o, lease_id, {}};
}

compare compare::value_of(std::string key, op o, std::string value) {
  return {std::move(key), target::value, o, 0, std::move(value)};
}

compare compare::absent(std::string key) {
  return create_revision(std::move(key), op::equal, 0);
}

request_op request_op::put(std::string key, std::string value, int64_t lease) {
  return {kind::put, std::move(key), std::move(value), lease, false};
}

request_op request_op::erase(std::string key) {
  return {kind::erase, std::move(key), {}, 0, false};
}

request_op request_op::erase_prefix(std::string prefix) {
  return {kind::erase, std::move(prefix), {}, 0, true};
}

request_op request_op::range(std::string key) {
  return {kind::range, std::move(key), {}, 0, false};
}

request_op request_op::range_prefix(std::string prefix) {
  return {kind::range, std::move(prefix), {}, 0, true};
}

std::string prefix_end(const std::string& prefix) {
  auto end = prefix;
  while (!end.empty()) {
    auto last = static_cast<unsigned char>(end.back());
    if (last < 0xff) {
      end.back() = static_cast<char>(last + 1);
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');
}

// -- shared pieces
// -------------------------------------------------------------

namespace detail {

http::request<http::string_body> make_post(const endpoint& ep,
                                           const std::string& path,
                                           std::string body,
                                           bool require_leader) {
  http::request<http::string_body> req{http::verb::post, path, 11};
  req.set(http::field::host, ep.host + ":" + ep.port);
  req.set(http::field::user_agent, "annals-etcd");
  req.set(http::field::content_type, "application/json");
  // gRPC metadata "hasleader": a member that lost its leader answers "no
  // leader" at once (and ends watch streams) instead of hanging until
  // etcd's own request timeout.
  if (require_leader)
    req.set("Grpc-Metadata-hasleader", "true");
  req.body() = std::move(body);
  req.prepare_payload();
  return req;
}

std::string describe_failure(const endpoint& ep, const char* step,
                             const error_code& ec) {
  return ep.text + " (" + step + "): " + ec.message();
}

} // namespace detail

// -- client
// --------------------------------------------------------------------

namespace {

/// One unary call: POST `body` to `path`, trying endpoints in turn (see the
/// header for when a write moves on). Returns the parsed JSON answer.
caf::expected<json> call(client::state& st, std::chrono::milliseconds limit,
                         const std::string& path, const json& body,
                         bool idempotent, bool require_leader = true) {
  auto deadline = clock::now() + limit;
  auto text = body.dump();
  auto n = st.endpoints.size();
  auto first = st.current.load();
  std::string failures;
  bool timed_out = false;
  caf::error worst; // malformed or etcd's own error, else the last failure
  // After a failure the next call starts at the next endpoint.
  auto move_on = [&st, n](size_t from) {
    st.current.compare_exchange_strong(from, (from + 1) % n);
  };
  auto note = [&](std::string failure) {
    if (!failures.empty())
      failures += "; ";
    failures += std::move(failure);
  };
  for (size_t i = 0; i < n; ++i) {
    auto now = clock::now();
    if (now >= deadline) {
      timed_out = true;
      break;
    }
    auto idx = (first + i) % n;
    const auto& ep = st.endpoints[idx];
    // Leave the later endpoints their share of the time.
    auto slice = now + (deadline - now) / static_cast<int64_t>(n - i);
    detail::connection conn{st.tls};
    if (auto ec = conn.connect(ep, slice)) {
      timed_out |= ec == boost::asio::error::timed_out;
      note(detail::describe_failure(ep, "connect", ec));
      continue;
    }
    auto req = detail::make_post(ep, path, text, require_leader);
    if (auto ec = conn.write(req, slice)) {
      // Not all of it reached the kernel: etcd cannot have run it.
      timed_out |= ec == boost::asio::error::timed_out;
      note(detail::describe_failure(ep, "send", ec));
      continue;
    }
    http::response_parser<http::string_body> parser;
    parser.body_limit(max_body);
    auto read_deadline = idempotent ? slice : deadline;
    if (auto ec = conn.read(parser, read_deadline)) {
      auto where = detail::describe_failure(ep, "answer", ec);
      auto code = ec == boost::asio::error::timed_out ? etcd_errc::timeout
                  : detail::is_connection_error(ec)
                    ? etcd_errc::unavailable
                    : etcd_errc::malformed_response;
      if (!idempotent) {
        move_on(idx);
        return make_error(code, path + ": " + where + " (outcome unknown)");
      }
      timed_out |= code == etcd_errc::timeout;
      if (code == etcd_errc::malformed_response)
        worst = make_error(code, path + ": " + where);
      note(std::move(where));
      continue;
    }
    const auto& res = parser.get();
    auto where = path + " at " + ep.text;
    auto answer = detail::parse_json(res.body());
    if (answer.is_discarded() || !answer.is_object()) {
      auto err = malformed(where, "HTTP " + std::to_string(res.result_int())
                                    + " with a body that is not a JSON object");
      if (!idempotent) {
        move_on(idx);
        return err;
      }
      worst = std::move(err);
      note(where + ": malformed answer");
      continue;
    }
    if (auto err = detail::decode_error_body(answer, where)) {
      if (is(err, etcd_errc::unavailable) || is(err, etcd_errc::timeout)) {
        // This member cannot serve now (no leader, request timed out).
        // "no leader" is definite: the request was refused before it was
        // proposed, so even a write may go to the next member.
        auto definite
          = describe(err).find("etcdserver: no leader") != std::string::npos;
        if (!idempotent && !definite) {
          move_on(idx);
          return err;
        }
        timed_out |= is(err, etcd_errc::timeout);
        note(describe(err));
        continue;
      }
      st.current.store(idx);
      return err;
    }
    if (res.result() != http::status::ok)
      return malformed(where, "HTTP " + std::to_string(res.result_int())
                                + " without an error body");
    st.current.store(idx);
    return answer;
  }
  // Nobody answered: move on from the endpoint that failed first.
  move_on(first);
  if (worst)
    return worst;
  if (timed_out || clock::now() >= deadline)
    return make_error(etcd_errc::timeout, path + ": no answer within "
                                            + std::to_string(limit.count())
                                            + " ms: " + failures);
  return make_error(etcd_errc::unavailable,
                    path + ": no endpoint answered: " + failures);
}

/// The single result object of a streaming RPC answered through the
/// gateway (`{"result": {...}}`, or a streaming error body).
caf::expected<json> stream_result(json answer, const std::string& path) {
  auto it = answer.find("result");
  if (it == answer.end() || !it->is_object())
    return malformed(path, "no result object");
  return std::move(*it);
}

} // namespace

client::client(std::shared_ptr<state> st, std::chrono::milliseconds deadline)
  : state_(std::move(st)), deadline_(deadline) {
  // nop
}

caf::expected<client> client::make(client_config cfg) {
  if (cfg.endpoints.empty())
    return make_error(etcd_errc::invalid_argument, "no etcd endpoints");
  if (cfg.deadline.count() <= 0)
    return make_error(etcd_errc::invalid_argument,
                      "the etcd deadline must be positive");
  auto st = std::make_shared<state>();
  for (const auto& text : cfg.endpoints) {
    auto ep = detail::parse_endpoint(text);
    if (!ep)
      return std::move(ep.error());
    st->endpoints.push_back(std::move(*ep));
  }
  if (cfg.tls) {
    auto ctx = detail::make_tls_context(cfg.tls->cafile, cfg.tls->certificate,
                                        cfg.tls->key);
    if (!ctx)
      return std::move(ctx.error());
    st->tls = std::move(*ctx);
  }
  return client{std::move(st), cfg.deadline};
}

client client::with_deadline(std::chrono::milliseconds deadline) const {
  return client{state_, deadline};
}

std::string client::current_endpoint() const {
  return state_->endpoints[state_->current.load() % state_->endpoints.size()]
    .text;
}

caf::expected<range_result> client::get(const std::string& key,
                                        consistency c) const {
  auto answer
    = call(*state_, deadline_, "/v3/kv/range", range_body(key, false, c), true,
           c == consistency::linearizable);
  if (!answer)
    return std::move(answer.error());
  if (auto r = detail::decode_range(*answer))
    return std::move(*r);
  return malformed("/v3/kv/range", "bad range answer");
}

caf::expected<range_result> client::get_prefix(const std::string& prefix,
                                               consistency c) const {
  auto answer
    = call(*state_, deadline_, "/v3/kv/range", range_body(prefix, true, c),
           true, c == consistency::linearizable);
  if (!answer)
    return std::move(answer.error());
  if (auto r = detail::decode_range(*answer))
    return std::move(*r);
  return malformed("/v3/kv/range", "bad range answer");
}

caf::expected<write_result> client::put(const std::string& key,
                                        const std::string& value,
                                        int64_t lease) const {
  auto answer = call(*state_, deadline_, "/v3/kv/put",
                     put_body(key, value, lease), false);
  if (!answer)
    return std::move(answer.error());
  auto rev = detail::header_revision(*answer);
  if (!rev)
    return malformed("/v3/kv/put", "bad header");
  return write_result{*rev, 0};
}

caf::expected<write_result> client::erase(const std::string& key) const {
  auto answer = call(*state_, deadline_, "/v3/kv/deleterange",
                     delete_body(key, false), false);
  if (!answer)
    return std::move(answer.error());
  auto rev = detail::header_revision(*answer);
  auto deleted = detail::int_field(*answer, "deleted");
  if (!rev || !deleted)
    return malformed("/v3/kv/deleterange", "bad answer");
  return write_result{*rev, *deleted};
}

caf::expected<write_result>
client::erase_prefix(const std::string& prefix) const {
  auto answer = call(*state_, deadline_, "/v3/kv/deleterange",
                     delete_body(prefix, true), false);
  if (!answer)
    return std::move(answer.error());
  auto rev = detail::header_revision(*answer);
  auto deleted = detail::int_field(*answer, "deleted");
  if (!rev || !deleted)
    return malformed("/v3/kv/deleterange", "bad answer");
  return write_result{*rev, *deleted};
}

caf::expected<txn_result> client::txn(const txn_request& req) const {
  json body = json::object();
  auto& compares = body["compare"] = json::array();
  for (const auto& c : req.compares)
    compares.push_back(compare_body(c));
  auto& success = body["success"] = json::array();
  for (const auto& op : req.success)
    success.push_back(op_body(op));
  auto& failure = body["failure"] = json::array();
  for (const auto& op : req.failure)
    failure.push_back(op_body(op));
  auto answer = call(*state_, deadline_, "/v3/kv/txn", body, false);
  if (!answer)
    return std::move(answer.error());
  txn_result out;
  auto rev = detail::header_revision(*answer);
  auto ok = detail::bool_field(*answer, "succeeded");
  if (!rev || !ok)
    return malformed("/v3/kv/txn", "bad answer");
  out.revision = *rev;
  out.succeeded = *ok;
  const auto& branch = out.succeeded ? req.success : req.failure;
  if (auto it = answer->find("responses");
      it != answer->end() && !it->is_null()) {
    if (!it->is_array() || it->size() != branch.size())
      return malformed("/v3/kv/txn", "responses do not match the branch");
    for (const auto& item : *it) {
      if (!item.is_object())
        return malformed("/v3/kv/txn", "bad response");
      response_op r;
      if (auto x = item.find("response_range"); x != item.end()) {
        auto range = detail::decode_range(*x);
        if (!range)
          return malformed("/v3/kv/txn", "bad range response");
        r.type = request_op::kind::range;
        r.range = std::move(*range);
      } else if (auto y = item.find("response_put"); y != item.end()) {
        r.type = request_op::kind::put;
      } else if (auto z = item.find("response_delete_range"); z != item.end()) {
        auto deleted = detail::int_field(*z, "deleted");
        if (!deleted)
          return malformed("/v3/kv/txn", "bad delete response");
        r.type = request_op::kind::erase;
        r.deleted = *deleted;
      } else {
        return malformed("/v3/kv/txn", "unknown response kind");
      }
      out.responses.push_back(std::move(r));
    }
  } else if (!branch.empty()) {
    return malformed("/v3/kv/txn", "responses missing");
  }
  return out;
}

caf::expected<lease_grant> client::grant(int64_t ttl_seconds) const {
  auto answer = call(*state_, deadline_, "/v3/lease/grant",
                     json{{"TTL", std::to_string(ttl_seconds)}}, false);
  if (!answer)
    return std::move(answer.error());
  auto id = detail::int_field(*answer, "ID");
  auto ttl = detail::int_field(*answer, "TTL");
  if (!id || !ttl || *id == 0)
    return malformed("/v3/lease/grant", "bad answer");
  return lease_grant{*id, *ttl};
}

caf::expected<int64_t> client::keep_alive(int64_t lease) const {
  const std::string path = "/v3/lease/keepalive";
  auto answer
    = call(*state_, deadline_, path, json{{"ID", std::to_string(lease)}}, true);
  if (!answer)
    return std::move(answer.error());
  auto result = stream_result(std::move(*answer), path);
  if (!result)
    return std::move(result.error());
  auto ttl = detail::int_field(*result, "TTL");
  if (!ttl)
    return malformed(path, "bad TTL");
  if (*ttl <= 0)
    return make_error(etcd_errc::lease_not_found,
                      path + ": lease " + std::to_string(lease)
                        + " expired or was revoked");
  return *ttl;
}

caf::error client::revoke(int64_t lease) const {
  auto answer = call(*state_, deadline_, "/v3/lease/revoke",
                     json{{"ID", std::to_string(lease)}}, false);
  if (!answer)
    return std::move(answer.error());
  return {};
}

caf::expected<lease_status> client::time_to_live(int64_t lease) const {
  const std::string path = "/v3/lease/timetolive";
  auto answer
    = call(*state_, deadline_, path, json{{"ID", std::to_string(lease)}}, true);
  if (!answer)
    return std::move(answer.error());
  auto id = detail::int_field(*answer, "ID");
  auto ttl = detail::int_field(*answer, "TTL");
  auto granted = detail::int_field(*answer, "grantedTTL");
  if (!id || !ttl || !granted)
    return malformed(path, "bad answer");
  if (*ttl < 0)
    return make_error(etcd_errc::lease_not_found,
                      path + ": lease " + std::to_string(lease)
                        + " expired or was revoked");
  return lease_status{*id, *ttl, *granted};
}

} // namespace annals::cluster::etcd
