// annals -- event-sourced aggregates on the C++ Actor Framework.
#include "etcd/watch.hpp"

#include "etcd/client_state.hpp"
#include "etcd/codec.hpp"
#include "etcd/etcd_errc.hpp"

#include <boost/asio/error.hpp>

#include <atomic>
#include <nlohmann/json.hpp>

namespace annals::cluster::etcd {

namespace http = boost::beast::http;
using json = nlohmann::json;
using detail::clock;

namespace {

/// Largest message (one line) accepted from the stream.
constexpr size_t max_message = 64u << 20;

/// The longest time the stream waits for news (it has no deadline; this
/// only keeps the arithmetic of deadlines finite).
constexpr auto forever = std::chrono::hours{24 * 365};

/// What one message of the stream says.
struct message {
  bool created = false;
  int64_t revision = 0;
  std::vector<watch_event> events;
};

caf::expected<message> decode_message(const json& obj,
                                      const std::string& where) {
  if (auto err = detail::decode_error_body(obj, where))
    return err;
  auto it = obj.find("result");
  if (it == obj.end() || !it->is_object())
    return make_error(etcd_errc::malformed_response,
                      where + ": a message without a result");
  const auto& result = *it;
  auto rev = detail::header_revision(result);
  auto created = detail::bool_field(result, "created");
  auto canceled = detail::bool_field(result, "canceled");
  auto compact = detail::int_field(result, "compact_revision");
  if (!rev || !created || !canceled || !compact)
    return make_error(etcd_errc::malformed_response,
                      where + ": a malformed watch response");
  if (*canceled) {
    if (*compact > 0)
      return make_compacted(where + ": revision compacted up to "
                              + std::to_string(*compact),
                            *compact);
    std::string reason = "canceled by etcd";
    if (auto r = result.find("cancel_reason");
        r != result.end() && r->is_string())
      reason = r->get<std::string>();
    return make_error(etcd_errc::rejected, where + ": " + reason);
  }
  message out;
  out.created = *created;
  out.revision = *rev;
  if (auto ev = result.find("events"); ev != result.end() && !ev->is_null()) {
    if (!ev->is_array())
      return make_error(etcd_errc::malformed_response,
                        where + ": events is not an array");
    for (const auto& e : *ev) {
      watch_event x;
      if (!e.is_object())
        return make_error(etcd_errc::malformed_response,
                          where + ": a malformed event");
      if (auto t = e.find("type"); t != e.end() && !t->is_null()) {
        if (*t == "DELETE")
          x.type = watch_event::kind::erase;
        else if (*t != "PUT")
          return make_error(etcd_errc::malformed_response,
                            where + ": unknown event type");
      }
      auto kv = e.find("kv");
      if (kv == e.end())
        return make_error(etcd_errc::malformed_response,
                          where + ": an event without kv");
      auto decoded = detail::decode_kv(*kv);
      if (!decoded)
        return make_error(etcd_errc::malformed_response,
                          where + ": a malformed kv");
      x.kv = std::move(*decoded);
      out.events.push_back(std::move(x));
    }
  }
  return out;
}

} // namespace

struct watch::stream {
  std::unique_ptr<detail::connection> conn;
  std::unique_ptr<http::response_parser<http::buffer_body>> parser;
  std::vector<char> buf = std::vector<char>(64 * 1024);
  std::string pending;
  std::string where;
  events_handler on_events;
  end_handler on_end;
  std::atomic<bool> stopping{false};

  /// The next message of the stream (one line of JSON).
  caf::expected<json> next(clock::time_point deadline) {
    for (;;) {
      size_t nl;
      while ((nl = pending.find('\n')) != std::string::npos) {
        auto line = pending.substr(0, nl);
        pending.erase(0, nl + 1);
        if (line.find_first_not_of(" \t\r") == std::string::npos)
          continue;
        auto obj = detail::parse_json(line);
        if (obj.is_discarded() || !obj.is_object())
          return make_error(etcd_errc::malformed_response,
                            where + ": a message that is not a JSON object");
        return obj;
      }
      if (parser->is_done()) {
        if (pending.find_first_not_of(" \t\r") != std::string::npos) {
          auto obj = detail::parse_json(pending);
          pending.clear();
          if (!obj.is_discarded() && obj.is_object())
            return obj;
          return make_error(etcd_errc::malformed_response,
                            where + ": a truncated message at the end");
        }
        return make_error(etcd_errc::unavailable,
                          where + ": etcd ended the stream");
      }
      if (pending.size() > max_message)
        return make_error(etcd_errc::malformed_response,
                          where + ": a message larger than 64 MiB");
      auto& body = parser->get().body();
      body.data = buf.data();
      body.size = buf.size();
      auto ec = conn->read_some(*parser, deadline);
      pending.append(buf.data(), buf.size() - body.size);
      if (ec) {
        auto code = ec == boost::asio::error::timed_out ? etcd_errc::timeout
                    : detail::is_connection_error(ec)
                      ? etcd_errc::unavailable
                      : etcd_errc::malformed_response;
        return make_error(code, where + ": stream ended: " + ec.message());
      }
    }
  }

  void run() {
    for (;;) {
      auto obj = next(clock::now() + forever);
      auto msg = obj ? decode_message(*obj, where)
                     : caf::expected<message>{std::move(obj.error())};
      if (stopping.load())
        return;
      if (!msg) {
        on_end(std::move(msg.error()));
        return;
      }
      if (!msg->events.empty())
        on_events(std::move(msg->events), msg->revision);
    }
  }
};

watch::watch(std::unique_ptr<stream> s, int64_t created_revision)
  : stream_(std::move(s)), created_revision_(created_revision) {
  thread_ = std::thread{[st = stream_.get()] { st->run(); }};
}

watch::~watch() {
  stop();
}

void watch::stop() {
  if (!stream_)
    return;
  stream_->stopping.store(true);
  stream_->conn->interrupt();
  if (thread_.joinable())
    thread_.join();
}

caf::expected<std::unique_ptr<watch>> watch::start(const client& c,
                                                   watch_options opts,
                                                   events_handler on_events,
                                                   end_handler on_end) {
  auto& st = *c.internals();
  auto deadline = clock::now() + c.deadline();
  json create{{"key", detail::base64_encode(opts.prefix && opts.key.empty()
                                              ? std::string(1, '\0')
                                              : opts.key)}};
  if (opts.prefix)
    create["range_end"] = detail::base64_encode(prefix_end(opts.key));
  if (opts.start_revision > 0)
    create["start_revision"] = std::to_string(opts.start_revision);
  auto text = json{{"create_request", create}}.dump();
  auto n = st.endpoints.size();
  auto first = st.current.load();
  std::string failures;
  bool timed_out = false;
  caf::error worst;
  for (size_t i = 0; i < n; ++i) {
    auto now = clock::now();
    if (now >= deadline) {
      timed_out = true;
      break;
    }
    auto idx = (first + i) % n;
    const auto& ep = st.endpoints[idx];
    auto slice = now + (deadline - now) / static_cast<int64_t>(n - i);
    auto s = std::make_unique<stream>();
    s->where = "/v3/watch at " + ep.text;
    s->conn = std::make_unique<detail::connection>(st.tls);
    s->parser = std::make_unique<http::response_parser<http::buffer_body>>();
    s->parser->body_limit(boost::none);
    auto fail = [&](const char* step, const detail::error_code& ec) {
      timed_out |= ec == boost::asio::error::timed_out;
      if (!failures.empty())
        failures += "; ";
      failures += detail::describe_failure(ep, step, ec);
    };
    if (auto ec = s->conn->connect(ep, slice)) {
      fail("connect", ec);
      continue;
    }
    auto req = detail::make_post(ep, "/v3/watch", text);
    if (auto ec = s->conn->write(req, slice)) {
      fail("send", ec);
      continue;
    }
    if (auto ec = s->conn->read_header(*s->parser, slice)) {
      if (!detail::is_connection_error(ec))
        worst = make_error(etcd_errc::malformed_response,
                           s->where + ": " + ec.message());
      fail("answer", ec);
      continue;
    }
    // Read messages until etcd confirms the watch.
    caf::error err;
    for (;;) {
      auto obj = s->next(slice);
      if (!obj) {
        err = std::move(obj.error());
        break;
      }
      auto msg = decode_message(*obj, s->where);
      if (!msg) {
        err = std::move(msg.error());
        break;
      }
      if (msg->created) {
        st.current.store(idx);
        s->on_events = std::move(on_events);
        s->on_end = std::move(on_end);
        auto rev = msg->revision;
        auto w = std::unique_ptr<watch>(new watch(std::move(s), rev));
        return w;
      }
    }
    if (is(err, etcd_errc::rejected) || is(err, etcd_errc::lease_not_found)
        || is(err, etcd_errc::compacted)) {
      st.current.store(idx);
      return err;
    }
    if (is(err, etcd_errc::malformed_response))
      worst = err;
    timed_out |= is(err, etcd_errc::timeout);
    if (!failures.empty())
      failures += "; ";
    failures += describe(err);
  }
  st.current.compare_exchange_strong(first, (first + 1) % n);
  if (worst)
    return worst;
  if (timed_out)
    return make_error(etcd_errc::timeout,
                      "/v3/watch: not confirmed within the deadline: "
                        + failures);
  return make_error(etcd_errc::unavailable,
                    "/v3/watch: no endpoint answered: " + failures);
}

} // namespace annals::cluster::etcd
