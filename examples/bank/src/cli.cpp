// bank-cli -- a terminal client of the bank's HTTP API.
//
// Exit status: 0 on a 2xx answer, 1 on an HTTP error (its message printed),
// 2 on a usage or connection error.
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include <cctype>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using json = nlohmann::json;

constexpr int exit_http_error = 1;
constexpr int exit_usage = 2;

constexpr const char* usage_text
  = "usage: bank-cli [--node HOST:PORT] [--command-id ID] [--token-file F]"
    " COMMAND\n"
    "commands:\n"
    "  open ID OWNER [LIMIT]        open an account (limit in cents)\n"
    "  credit ID AMOUNT             put money in (cents)\n"
    "  withdraw ID AMOUNT           take money out (cents)\n"
    "  transfer TID FROM TO AMOUNT  start a transfer (TID makes it "
    "idempotent)\n"
    "  transfer-status TID          show a transfer\n"
    "  account ID                   show an account\n"
    "  events ID [FROM]             list an account's events\n"
    "  balance ID                   the projected balance\n"
    "  cluster                      the cluster's state\n"
    "  health                       is the node healthy\n"
    "operator commands (they send the token in --token-file, else in\n"
    "$BANK_OPERATOR_TOKEN_FILE, as \"Authorization: Bearer\"):\n"
    "  leave                        this node leaves the cluster\n"
    "  parked                       the parked events of this node\n"
    "  replay-parked                re-deliver them\n"
    "The node defaults to $BANK_NODE, else 127.0.0.1:8080.\n";

struct usage_error {
  std::string message;
};

struct call {
  http::verb method = http::verb::get;
  std::string target;
  json body; ///< null: no body
  std::string idempotency_key;
  bool operator_only = false; ///< sends the operator token
  std::string token;          ///< the operator token, if sent
};

/// Percent-encodes an id for a path segment.
std::string encode(const std::string& id) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : id) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

int64_t integer(const std::string& s, const char* what) {
  int64_t x = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), x);
  if (s.empty() || ec != std::errc{} || end != s.data() + s.size())
    throw usage_error{std::string{what} + " must be an integer, got \"" + s
                      + "\""};
  return x;
}

void need(const std::vector<std::string>& args, size_t min, size_t max) {
  if (args.size() < min || args.size() > max)
    throw usage_error{"wrong number of arguments for \"" + args[0] + "\""};
}

call make_call(const std::vector<std::string>& a,
               const std::string& command_id) {
  if (a.empty())
    throw usage_error{"no command"};
  const auto& cmd = a[0];
  call c;
  auto write = [&](std::string target, json body) {
    c.idempotency_key = command_id;
    c.method = http::verb::post;
    c.target = std::move(target);
    c.body = std::move(body);
  };
  if (cmd == "open") {
    need(a, 3, 4);
    json body{{"owner", a[2]}};
    body["credit_limit"] = a.size() == 4 ? integer(a[3], "LIMIT") : 0;
    write("/accounts/" + encode(a[1]) + "/open", std::move(body));
  } else if (cmd == "credit" || cmd == "withdraw") {
    need(a, 3, 3);
    write("/accounts/" + encode(a[1]) + "/" + cmd,
          {{"amount", integer(a[2], "AMOUNT")}});
  } else if (cmd == "transfer") {
    need(a, 5, 5);
    write("/transfers", {{"id", a[1]},
                         {"from", a[2]},
                         {"to", a[3]},
                         {"amount", integer(a[4], "AMOUNT")}});
  } else if (cmd == "transfer-status") {
    need(a, 2, 2);
    c.target = "/transfers/" + encode(a[1]);
  } else if (cmd == "account") {
    need(a, 2, 2);
    c.target = "/accounts/" + encode(a[1]);
  } else if (cmd == "events") {
    need(a, 2, 3);
    auto from = a.size() == 3 ? integer(a[2], "FROM") : 1;
    c.target
      = "/accounts/" + encode(a[1]) + "/events?from=" + std::to_string(from);
  } else if (cmd == "balance") {
    need(a, 2, 2);
    c.target = "/balances/" + encode(a[1]);
  } else if (cmd == "cluster") {
    need(a, 1, 1);
    c.target = "/cluster";
  } else if (cmd == "health") {
    need(a, 1, 1);
    c.target = "/healthz";
  } else if (cmd == "leave") {
    need(a, 1, 1);
    c.method = http::verb::post;
    c.target = "/cluster/leave";
    c.operator_only = true;
  } else if (cmd == "parked") {
    need(a, 1, 1);
    c.target = "/admin/parked";
    c.operator_only = true;
  } else if (cmd == "replay-parked") {
    need(a, 1, 1);
    c.method = http::verb::post;
    c.target = "/admin/parked/replay";
    c.operator_only = true;
  } else {
    throw usage_error{"unknown command \"" + cmd + "\""};
  }
  return c;
}

/// The operator token in `path`, without trailing white space.
std::string read_token(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  if (!in)
    throw usage_error{"cannot read the token file \"" + path + "\""};
  std::ostringstream content;
  content << in.rdbuf();
  auto token = content.str();
  while (!token.empty()
         && std::isspace(static_cast<unsigned char>(token.back())))
    token.pop_back();
  if (token.empty())
    throw usage_error{"the token file \"" + path + "\" is empty"};
  return token;
}

struct node {
  std::string host;
  std::string port;
};

node parse_node(const std::string& s) {
  auto colon = s.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == s.size())
    throw usage_error{"--node must be HOST:PORT, got \"" + s + "\""};
  return {s.substr(0, colon), s.substr(colon + 1)};
}

/// Sends `c` and returns the response; throws boost::system::system_error on
/// a connection failure.
http::response<http::string_body> send(const node& n, const call& c) {
  asio::io_context ioc;
  asio::ip::tcp::resolver resolver{ioc};
  beast::tcp_stream stream{ioc};
  stream.connect(resolver.resolve(n.host, n.port));
  http::request<http::string_body> req{c.method, c.target, 11};
  req.set(http::field::host, n.host);
  req.set(http::field::user_agent, "bank-cli");
  if (!c.body.is_null()) {
    req.set(http::field::content_type, "application/json");
    req.body() = c.body.dump();
  }
  if (!c.idempotency_key.empty())
    req.set("Idempotency-Key", c.idempotency_key);
  if (!c.token.empty())
    req.set(http::field::authorization, "Bearer " + c.token);
  req.prepare_payload();
  http::write(stream, req);
  beast::flat_buffer buffer;
  http::response<http::string_body> res;
  http::read(stream, buffer, res);
  beast::error_code ignored;
  stream.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  return res;
}

int print(const http::response<http::string_body>& res) {
  auto status = res.result_int();
  auto doc = json::parse(res.body(), nullptr, false);
  bool ok = status >= 200 && status < 300;
  auto& out = ok ? std::cout : std::cerr;
  if (!ok) {
    out << "error: HTTP " << status;
    if (!doc.is_discarded() && doc.is_object() && doc.contains("message")
        && doc["message"].is_string())
      out << ": " << doc["message"].get<std::string>();
    else
      out << ": " << res.body();
    out << "\n";
    return exit_http_error;
  }
  if (doc.is_discarded())
    out << res.body();
  else
    out << doc.dump(2, ' ', false, json::error_handler_t::replace) << "\n";
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args;
  std::string node_text = "127.0.0.1:8080";
  if (const char* env = std::getenv("BANK_NODE"); env != nullptr && *env)
    node_text = env;
  std::string command_id;
  std::string token_file;
  if (const char* env = std::getenv("BANK_OPERATOR_TOKEN_FILE");
      env != nullptr && *env)
    token_file = env;
  try {
    for (int i = 1; i < argc; ++i) {
      std::string arg = argv[i];
      if (arg == "--help" || arg == "-h") {
        std::cout << usage_text;
        return 0;
      }
      if (arg == "--node" || arg == "--command-id" || arg == "--token-file") {
        if (i + 1 == argc)
          throw usage_error{arg + " needs a value"};
        auto& dst = arg == "--node"         ? node_text
                    : arg == "--command-id" ? command_id
                                            : token_file;
        dst = argv[++i];
        continue;
      }
      args.push_back(std::move(arg));
    }
    auto target = parse_node(node_text);
    auto c = make_call(args, command_id);
    if (c.operator_only && !token_file.empty())
      c.token = read_token(token_file);
    try {
      return print(send(target, c));
    } catch (const boost::system::system_error& e) {
      std::cerr << "error: cannot talk to " << node_text << ": "
                << e.code().message() << "\n";
      return exit_usage;
    }
  } catch (const usage_error& e) {
    std::cerr << "error: " << e.message << "\n" << usage_text;
    return exit_usage;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return exit_usage;
  }
}
