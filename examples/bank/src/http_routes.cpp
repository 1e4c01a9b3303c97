// bank -- the HTTP API's request -> response mapping.
#include "bank/http_routes.hpp"

#include "annals/errc.hpp"
#include "annals/persistence/errc.hpp"
#include "annals/render.hpp"

#include "bank/metrics.hpp"

#include <caf/message.hpp>

#include <atomic>
#include <charconv>
#include <chrono>
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <vector>

namespace bank {

namespace {

using json = nlohmann::json;
using reply_fn = std::function<void(http_response)>;

// -- rendering ----------------------------------------------------------------

/// Never throws on invalid UTF-8 (ids from the path may hold any byte).
std::string render(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
}

http_response ok(const json& j) {
  return http_response{200, "application/json", render(j), {}};
}

json to_json(const annals::ack& a) {
  return {{"revision", a.revision},
          {"first_revision", a.first_revision},
          {"events", a.events},
          {"duplicate", a.duplicate}};
}

json to_json(const std::string& id, const account_state& s) {
  return {{"id", id},
          {"open", s.view.open},
          {"closed", s.view.closed},
          {"owner", s.view.owner},
          {"balance", s.view.balance},
          {"credit_limit", s.view.credit_limit},
          {"revision", s.revision}};
}

json to_json(const std::string& id, const transfer_view& t) {
  return {{"id", id},
          {"status", to_string(static_cast<transfer_status>(t.status))},
          {"from", t.from},
          {"to", t.to},
          {"amount", t.amount},
          {"reason", t.reason}};
}

/// `metadata`: always the command id (null if the command had none),
/// partition, position, epoch and timestamp; correlation and causation ids
/// only when present. `timestamp_ns` stays at the top level as well.
json to_json(const event_line& e) {
  auto data = json::parse(e.data_json, nullptr, false);
  if (data.is_discarded())
    data = e.data_json; // not JSON after all: pass it on as a string
  json meta{{"command_id", e.meta.command_id.empty() ? json(nullptr)
                                                     : json(e.meta.command_id)},
            {"partition", e.partition},
            {"position", e.position},
            {"epoch", e.meta.epoch},
            {"timestamp_ns", e.timestamp_ns}};
  if (!e.meta.correlation_id.empty())
    meta["correlation_id"] = e.meta.correlation_id;
  if (!e.meta.causation_id.empty())
    meta["causation_id"] = e.meta.causation_id;
  return {{"revision", e.revision},
          {"type", e.type},
          {"data", std::move(data)},
          {"timestamp_ns", e.timestamp_ns},
          {"metadata", std::move(meta)}};
}

// -- calling `done` once
// --------------------------------------------------------

/// Shared by the synchronous path and the backend's completion, so that an
/// exception on either side still yields exactly one response.
class once {
public:
  explicit once(reply_fn f) : f_(std::move(f)) {
  }
  void operator()(http_response r) {
    if (!called_.exchange(true))
      f_(std::move(r));
  }

private:
  reply_fn f_;
  std::atomic<bool> called_{false};
};

using reply_ptr = std::shared_ptr<once>;

http_response internal_error() {
  return error_response(500, "internal", "unexpected failure in the server");
}

/// Wraps a mapping of the backend's result into a completion callback.
template <class T, class F>
completion<T> complete(reply_ptr reply, F map) {
  return [reply, map = std::move(map)](caf::expected<T> x) mutable {
    try {
      (*reply)(map(std::move(x)));
    } catch (...) {
      (*reply)(internal_error());
    }
  };
}

// -- parsing the target -------------------------------------------------------

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

std::optional<std::string> percent_decode(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out += in[i];
      continue;
    }
    if (i + 2 >= in.size())
      return std::nullopt;
    auto hi = hex_value(in[i + 1]);
    auto lo = hex_value(in[i + 2]);
    if (hi < 0 || lo < 0)
      return std::nullopt;
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

struct target_parts {
  std::vector<std::string> segments; ///< decoded
  std::string_view query;
};

/// nullopt: not an origin-form target or a bad percent escape.
std::optional<target_parts> split_target(std::string_view target) {
  if (target.empty() || target.front() != '/')
    return std::nullopt;
  target_parts out;
  auto qpos = target.find('?');
  auto path = target.substr(0, qpos);
  if (qpos != std::string_view::npos)
    out.query = target.substr(qpos + 1);
  path.remove_prefix(1);
  for (;;) {
    auto slash = path.find('/');
    auto seg = percent_decode(path.substr(0, slash));
    if (!seg)
      return std::nullopt;
    out.segments.push_back(std::move(*seg));
    if (slash == std::string_view::npos)
      break;
    path.remove_prefix(slash + 1);
  }
  return out;
}

/// The raw value of query parameter `key`, if present.
std::optional<std::string_view> query_param(std::string_view query,
                                            std::string_view key) {
  while (!query.empty()) {
    auto amp = query.find('&');
    auto pair = query.substr(0, amp);
    auto eq = pair.find('=');
    if (pair.substr(0, eq) == key)
      return eq == std::string_view::npos ? std::string_view{}
                                          : pair.substr(eq + 1);
    if (amp == std::string_view::npos)
      break;
    query.remove_prefix(amp + 1);
  }
  return std::nullopt;
}

std::optional<uint64_t> parse_u64(std::string_view s) {
  uint64_t x = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), x);
  if (s.empty() || ec != std::errc{} || end != s.data() + s.size())
    return std::nullopt;
  return x;
}

// -- the route table ----------------------------------------------------------

enum class op {
  open_account,
  credit,
  withdraw,
  get_account,
  account_events,
  projected_balance,
  start_transfer,
  get_transfer,
  cluster_info,
  leave,
  parked_list,
  parked_replay,
  metrics,
  healthz,
};

/// Who may call a route (see `refuse_operator`).
enum class access : uint8_t { anyone, operator_only };

struct matched {
  op what;
  const char* method; ///< the one method the route takes
  std::string id;     ///< empty for routes without an id
  access who = access::anyone;
};

std::optional<matched> match(std::vector<std::string>& s) {
  auto n = s.size();
  if (n == 1) {
    if (s[0] == "transfers")
      return matched{op::start_transfer, "POST", {}};
    if (s[0] == "cluster")
      return matched{op::cluster_info, "GET", {}};
    if (s[0] == "metrics")
      return matched{op::metrics, "GET", {}};
    if (s[0] == "healthz")
      return matched{op::healthz, "GET", {}};
  } else if (n == 2) {
    if (s[0] == "cluster" && s[1] == "leave")
      return matched{op::leave, "POST", {}, access::operator_only};
    if (s[0] == "admin" && s[1] == "parked")
      return matched{op::parked_list, "GET", {}, access::operator_only};
    if (s[0] == "accounts")
      return matched{op::get_account, "GET", std::move(s[1])};
    if (s[0] == "transfers")
      return matched{op::get_transfer, "GET", std::move(s[1])};
    if (s[0] == "balances")
      return matched{op::projected_balance, "GET", std::move(s[1])};
  } else if (n == 3 && s[0] == "accounts") {
    if (s[2] == "open")
      return matched{op::open_account, "POST", std::move(s[1])};
    if (s[2] == "credit")
      return matched{op::credit, "POST", std::move(s[1])};
    if (s[2] == "withdraw")
      return matched{op::withdraw, "POST", std::move(s[1])};
    if (s[2] == "events")
      return matched{op::account_events, "GET", std::move(s[1])};
  } else if (n == 3 && s[0] == "admin" && s[1] == "parked"
             && s[2] == "replay") {
    return matched{op::parked_replay, "POST", {}, access::operator_only};
  }
  return std::nullopt;
}

/// Why an operator-only route is refused, or nullopt if it is not.
std::optional<http_response> refuse_operator(const http_request& req) {
  switch (req.credential) {
  case operator_credential::valid:
    return std::nullopt;
  case operator_credential::absent:
    return error_response(401, "unauthorized",
                          "this route needs an operator credential: "
                          "\"Authorization: Bearer <token>\" or a client "
                          "certificate");
  case operator_credential::wrong:
    return error_response(403, "forbidden", "wrong operator token");
  case operator_credential::unconfigured:
    break;
  }
  return error_response(403, "forbidden",
                        "operator routes are disabled: this node has no "
                        "operator credential (start it with "
                        "--bank.operator-token-file=PATH, or with HTTPS and "
                        "--bank.tls-client-ca=PATH)");
}

/// The metrics label of a route: its template, never an id.
const char* template_of(op what) noexcept {
  switch (what) {
  case op::open_account:
    return "/accounts/{id}/open";
  case op::credit:
    return "/accounts/{id}/credit";
  case op::withdraw:
    return "/accounts/{id}/withdraw";
  case op::get_account:
    return "/accounts/{id}";
  case op::account_events:
    return "/accounts/{id}/events";
  case op::projected_balance:
    return "/balances/{id}";
  case op::start_transfer:
    return "/transfers";
  case op::get_transfer:
    return "/transfers/{id}";
  case op::cluster_info:
    return "/cluster";
  case op::leave:
    return "/cluster/leave";
  case op::parked_list:
    return "/admin/parked";
  case op::parked_replay:
    return "/admin/parked/replay";
  case op::metrics:
    return "/metrics";
  case op::healthz:
    return "/healthz";
  }
  return "(unmatched)";
}

// -- reading the body ---------------------------------------------------------

/// Parses `body`; sets `duplicate` to the first key that occurs twice in
/// one object. nlohmann-json silently keeps the last of duplicated keys, so
/// a parser callback watches the parse: one key set per open object, on a
/// stack, so every object at any depth is checked on its own and the same
/// key in sibling or nested objects is fine. Keys compare after unescaping
/// ("\u0061" is "a"). The parse itself is nlohmann's (iterative, any depth).
json parse_body(const std::string& body,
                std::optional<std::string>& duplicate) {
  std::vector<std::set<std::string>> open_objects;
  auto watch = [&](int, json::parse_event_t ev, json& parsed) {
    switch (ev) {
    case json::parse_event_t::object_start:
      open_objects.emplace_back();
      break;
    case json::parse_event_t::object_end:
      if (!open_objects.empty())
        open_objects.pop_back();
      break;
    case json::parse_event_t::key:
      if (!open_objects.empty() && parsed.is_string()
          && !open_objects.back().insert(parsed.get<std::string>()).second
          && !duplicate)
        duplicate = parsed.get<std::string>();
      break;
    default:
      break;
    }
    return true; // keep everything: only watching
  };
  return json::parse(body, watch, false);
}

/// Collects the body's fields; the first problem wins and becomes a 400.
class body_reader {
public:
  explicit body_reader(const std::string& body) {
    std::optional<std::string> duplicate;
    doc_ = parse_body(body, duplicate);
    if (doc_.is_discarded())
      problem_ = "the body is not valid JSON";
    else if (duplicate)
      problem_ = "the body has the key "
                 + json(*duplicate)
                     .dump(-1, ' ', false, json::error_handler_t::replace)
                 + " more than once in one object (duplicate keys are"
                   " ambiguous)";
    else if (!doc_.is_object())
      problem_ = "the body must be a JSON object";
  }

  std::optional<std::string> string(const char* key, bool required) {
    auto* v = find(key, required);
    if (v == nullptr)
      return std::nullopt;
    if (!v->is_string()) {
      fail(std::string{"\""} + key + "\" must be a string");
      return std::nullopt;
    }
    return v->get<std::string>();
  }

  std::optional<std::string> id(const char* key, bool required) {
    auto s = string(key, required);
    if (s && !valid_id(*s)) {
      fail(std::string{"\""} + key + "\" must be 1 to "
           + std::to_string(max_id_bytes)
           + " bytes of UTF-8 without control characters");
      return std::nullopt;
    }
    return s;
  }

  /// An integer that fits int64 (no fractions, no exponents) and is at
  /// least `min`.
  std::optional<int64_t> integer(const char* key, bool required,
                                 int64_t min
                                 = std::numeric_limits<int64_t>::min()) {
    auto* v = find(key, required);
    if (v == nullptr)
      return std::nullopt;
    std::optional<int64_t> x;
    if (v->is_number_unsigned()) {
      auto u = v->get<uint64_t>();
      if (u <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
        x = static_cast<int64_t>(u);
    } else if (v->is_number_integer()) {
      x = v->get<int64_t>();
    }
    if (!x) {
      fail(std::string{"\""} + key + "\" must be an integer fitting 64 bits");
      return std::nullopt;
    }
    if (*x < min) {
      fail(std::string{"\""} + key + "\" must be at least "
           + std::to_string(min));
      return std::nullopt;
    }
    return x;
  }

  const std::string& problem() const noexcept {
    return problem_;
  }

private:
  const json* find(const char* key, bool required) {
    if (!problem_.empty())
      return nullptr;
    auto i = doc_.find(key);
    if (i == doc_.end() || i->is_null()) {
      if (required)
        fail(std::string{"missing field \""} + key + "\"");
      return nullptr;
    }
    return &*i;
  }

  void fail(std::string what) {
    if (problem_.empty())
      problem_ = std::move(what);
  }

  json doc_;
  std::string problem_;
};

http_response bad_request(std::string_view message) {
  return error_response(400, "bad_request", message);
}

/// The command id of a write, or a problem. Empty means "none given".
std::optional<std::string> command_id(const http_request& req,
                                      body_reader& body) {
  auto from_body = body.id("command_id", false);
  if (!body.problem().empty())
    return std::nullopt;
  if (!req.idempotency_key)
    return from_body.value_or(std::string{});
  if (!valid_id(*req.idempotency_key)) {
    return std::nullopt;
  }
  if (from_body && *from_body != *req.idempotency_key)
    return std::nullopt;
  return *req.idempotency_key;
}

void dispatch(api& backend, const http_request& req, const reply_ptr& reply) {
  auto parts = split_target(req.target);
  if (!parts) {
    (*reply)(bad_request("malformed request target"));
    return;
  }
  auto m = match(parts->segments);
  if (!m) {
    (*reply)(error_response(404, "not_found", "no such route"));
    return;
  }
  if (req.method != m->method) {
    auto r = error_response(405, "method_not_allowed",
                            std::string{"this route takes "} + m->method);
    r.allow = m->method;
    (*reply)(std::move(r));
    return;
  }
  if (m->who == access::operator_only) {
    if (auto refusal = refuse_operator(req)) {
      (*reply)(std::move(*refusal));
      return;
    }
  }
  if (m->what != op::start_transfer && m->what != op::cluster_info
      && m->what != op::leave && m->what != op::parked_list
      && m->what != op::parked_replay && m->what != op::metrics
      && m->what != op::healthz && !valid_id(m->id)) {
    (*reply)(bad_request("ids are 1 to " + std::to_string(max_id_bytes)
                         + " bytes of UTF-8 without control characters"));
    return;
  }
  auto ack_done = [&](bool not_open_is_404) {
    return complete<annals::ack>(
      reply, [not_open_is_404](caf::expected<annals::ack> x) {
        if (!x)
          return error_response(x.error(), not_open_is_404);
        return ok(to_json(*x));
      });
  };
  auto id = m->id;
  switch (m->what) {
  case op::open_account:
  case op::credit:
  case op::withdraw: {
    body_reader body{req.body};
    std::optional<std::string> owner;
    std::optional<int64_t> amount;
    if (m->what == op::open_account) {
      owner = body.string("owner", true);
      amount = body.integer("credit_limit", false, 0);
    } else {
      amount = body.integer("amount", true, 1);
    }
    auto cid = command_id(req, body);
    if (!body.problem().empty()) {
      (*reply)(bad_request(body.problem()));
      return;
    }
    if (!cid) {
      (*reply)(bad_request("the Idempotency-Key header must be a valid id"
                           " and equal \"command_id\" if both are given"));
      return;
    }
    if (m->what == op::open_account)
      backend.open_account(id, *owner, amount.value_or(0), *cid,
                           ack_done(false));
    else if (m->what == op::credit)
      backend.credit(id, *amount, *cid, ack_done(true));
    else
      backend.withdraw(id, *amount, *cid, ack_done(true));
    return;
  }
  case op::start_transfer: {
    body_reader body{req.body};
    auto tid = body.id("id", true);
    auto from = body.id("from", true);
    auto to = body.id("to", true);
    auto amount = body.integer("amount", true, 1);
    if (!body.problem().empty()) {
      (*reply)(bad_request(body.problem()));
      return;
    }
    backend.start_transfer(*tid, *from, *to, *amount, ack_done(false));
    return;
  }
  case op::get_account:
    backend.get_account(
      id, complete<account_state>(reply, [id](caf::expected<account_state> x) {
        if (!x)
          return error_response(x.error(), true);
        if (!x->view.open && !x->view.closed)
          return error_response(404, "not_open",
                                "account " + id + " is not open");
        return ok(to_json(id, *x));
      }));
    return;
  case op::account_events: {
    uint64_t from = 1;
    uint64_t max = max_events_per_page;
    if (auto p = query_param(parts->query, "from")) {
      auto v = parse_u64(*p);
      if (!v || *v == 0) {
        (*reply)(bad_request("\"from\" must be a revision >= 1"));
        return;
      }
      from = *v;
    }
    if (auto p = query_param(parts->query, "max")) {
      auto v = parse_u64(*p);
      if (!v || *v == 0) {
        (*reply)(bad_request("\"max\" must be a count >= 1"));
        return;
      }
      max = std::min<uint64_t>(*v, max_events_per_page);
    }
    using lines = std::vector<event_line>;
    backend.account_events(
      id, from, static_cast<uint32_t>(max),
      complete<lines>(reply, [id, from](caf::expected<lines> x) {
        if (!x)
          return error_response(x.error(), true);
        auto events = json::array();
        uint64_t next = from;
        for (auto& e : *x) {
          events.push_back(to_json(e));
          next = e.revision + 1;
        }
        return ok({{"id", id},
                   {"from", from},
                   {"next", next},
                   {"events", std::move(events)}});
      }));
    return;
  }
  case op::projected_balance:
    backend.projected_balance(
      id, complete<projected_balance_view>(
            reply, [id](caf::expected<projected_balance_view> x) {
              if (!x)
                return error_response(x.error(), true);
              json j{{"id", id},
                     {"known", x->known},
                     {"balance", nullptr},
                     {"position", x->position}};
              if (x->known)
                j["balance"] = x->balance;
              return ok(j);
            }));
    return;
  case op::get_transfer:
    backend.get_transfer(
      id, complete<transfer_view>(reply, [id](caf::expected<transfer_view> x) {
        if (!x)
          return error_response(x.error(), false);
        if (x->status == static_cast<uint8_t>(transfer_status::none))
          return error_response(404, "unknown_transfer", "no transfer " + id);
        return ok(to_json(id, *x));
      }));
    return;
  case op::cluster_info:
    backend.cluster_info(
      complete<std::string>(reply, [](caf::expected<std::string> x) {
        if (!x)
          return error_response(x.error(), false);
        return http_response{200, "application/json", std::move(*x), {}};
      }));
    return;
  case op::leave:
    backend.leave(complete<bool>(reply, [](caf::expected<bool> x) {
      if (!x)
        return error_response(x.error(), false);
      return ok({{"left", *x}});
    }));
    return;
  case op::parked_list:
    backend.parked_events(complete<std::vector<parked_line>>(
      reply, [](caf::expected<std::vector<parked_line>> x) {
        if (!x)
          return error_response(x.error(), false);
        auto list = json::array();
        for (auto& p : *x)
          list.push_back({{"consumer", p.consumer},
                          {"stream", p.stream},
                          {"revision", p.revision},
                          {"position", p.position},
                          {"reason", p.reason}});
        return ok({{"parked", std::move(list)}});
      }));
    return;
  case op::parked_replay:
    backend.replay_parked(
      complete<replay_outcome>(reply, [](caf::expected<replay_outcome> x) {
        if (!x)
          return error_response(x.error(), false);
        return ok({{"handled", x->handled}, {"remaining", x->remaining}});
      }));
    return;
  case op::metrics:
    backend.metrics_text(
      complete<std::string>(reply, [](caf::expected<std::string> x) {
        if (!x)
          return error_response(x.error(), false);
        // The HTTP layer's own metrics and the process's follow the backend's.
        auto text = std::move(*x);
        text += http_metrics::global().render();
        text += process_metrics_text();
        return http_response{
          200, "text/plain; version=0.0.4", std::move(text), {}};
      }));
    return;
  case op::healthz:
    backend.healthy(complete<bool>(reply, [](caf::expected<bool> x) {
      if (!x)
        return error_response(x.error(), false);
      if (!*x)
        return error_response(503, "unhealthy", "the node is not healthy");
      return ok({{"status", "ok"}});
    }));
    return;
  }
  (*reply)(internal_error());
}

std::string context_text(const caf::error& err) {
  const auto& ctx = err.context();
  if (!ctx.empty() && ctx.match_element<std::string>(0))
    return ctx.get_as<std::string>(0);
  return {};
}

} // namespace

bool valid_id(std::string_view id) noexcept {
  if (id.empty() || id.size() > max_id_bytes || !valid_utf8(id))
    return false;
  for (auto c : id) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f)
      return false;
  }
  return true;
}

bool valid_utf8(std::string_view text) noexcept {
  auto byte = [&](size_t i) { return static_cast<unsigned char>(text[i]); };
  size_t i = 0;
  while (i < text.size()) {
    auto lead = byte(i);
    if (lead < 0x80) {
      ++i;
      continue;
    }
    // The sequence's length, the lead's payload bits and the least code
    // point that needs this length (anything less is an overlong form).
    size_t len = 0;
    uint32_t cp = 0;
    uint32_t least = 0;
    if ((lead & 0xe0) == 0xc0) {
      len = 2;
      cp = lead & 0x1fu;
      least = 0x80;
    } else if ((lead & 0xf0) == 0xe0) {
      len = 3;
      cp = lead & 0x0fu;
      least = 0x800;
    } else if ((lead & 0xf8) == 0xf0) {
      len = 4;
      cp = lead & 0x07u;
      least = 0x10000;
    } else {
      return false; // a continuation byte, or 0xf8..0xff
    }
    if (text.size() - i < len)
      return false; // truncated
    for (size_t k = 1; k < len; ++k) {
      auto cont = byte(i + k);
      if ((cont & 0xc0) != 0x80)
        return false;
      cp = (cp << 6) | (cont & 0x3fu);
    }
    if (cp < least || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
      return false; // overlong, beyond Unicode, or a surrogate
    i += len;
  }
  return true;
}

http_response error_response(unsigned status, std::string_view code,
                             std::string_view message) {
  json j{{"error", code}, {"message", message}};
  return http_response{status, "application/json", render(j), {}};
}

http_response error_response(const caf::error& err, bool not_open_is_404) {
  if (err.category() == caf::atom("bank")) {
    auto code = static_cast<bank_errc>(err.code());
    auto name = std::string{to_string(code)};
    auto ctx = context_text(err);
    auto message = "bank." + name + (ctx.empty() ? "" : ": " + ctx);
    auto status = code == bank_errc::not_open && not_open_is_404 ? 404u : 409u;
    return error_response(status, name, message);
  }
  if (err.category() == annals::errc_category) {
    auto code = static_cast<annals::errc>(err.code());
    auto name = annals::to_string(code);
    switch (code) {
    case annals::errc::wrong_expected_revision:
      return error_response(409, name, annals::render(err));
    case annals::errc::unavailable:
      return error_response(503, name, annals::render(err));
    case annals::errc::outcome_unknown:
      return error_response(504, name,
                            annals::render(err)
                              + " (the command may have been applied;"
                                " retry with the same command_id)");
    default:
      return error_response(500, name, annals::render(err));
    }
  }
  if (err.category() == annals::journal_category) {
    auto code = static_cast<annals::journal_errc>(err.code());
    auto status
      = code == annals::journal_errc::wrong_expected_revision ? 409u : 500u;
    return error_response(status, annals::to_string(code), annals::render(err));
  }
  return error_response(500, "internal", annals::render(err));
}

std::string route_template(std::string_view target) {
  auto parts = split_target(target);
  if (!parts)
    return "(unmatched)";
  auto m = match(parts->segments);
  return m ? template_of(m->what) : "(unmatched)";
}

void route(api& backend, const http_request& req,
           std::function<void(http_response)> done) {
  std::string label;
  try {
    label = route_template(req.target);
  } catch (...) {
    label = "(unmatched)";
  }
  auto start = std::chrono::steady_clock::now();
  auto reply
    = std::make_shared<once>([done = std::move(done), label,
                              method = req.method, start](http_response r) {
        try {
          std::chrono::duration<double> took
            = std::chrono::steady_clock::now() - start;
          http_metrics::global().observe(method, label, r.status, took.count());
        } catch (...) {
          // Out of memory for a label: answer anyway, uncounted.
        }
        done(std::move(r));
      });
  try {
    dispatch(backend, req, reply);
  } catch (...) {
    (*reply)(internal_error());
  }
}

} // namespace bank
