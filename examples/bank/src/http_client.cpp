// bank -- a small synchronous HTTP/1.1 client.
#include "bank/http_client.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <caf/error.hpp>
#include <caf/make_message.hpp>
#include <caf/sec.hpp>

namespace bank {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

caf::expected<http_reply>
http_request(const std::string& host, uint16_t port, const std::string& method,
             const std::string& target, const std::string& body,
             const std::vector<std::pair<std::string, std::string>>& headers,
             std::chrono::milliseconds timeout) {
  auto where = host + ":" + std::to_string(port);
  auto fail = [&](const std::string& what, const beast::error_code& ec) {
    return caf::make_error(caf::sec::cannot_connect_to_node,
                           what + " " + where + ": " + ec.message());
  };
  asio::io_context ioc;
  asio::ip::tcp::resolver resolver{ioc};
  beast::tcp_stream stream{ioc};
  beast::error_code ec;
  auto addrs = resolver.resolve(host, std::to_string(port), ec);
  if (ec)
    return fail("resolve", ec);
  stream.expires_after(timeout);
  stream.connect(addrs, ec);
  if (ec)
    return fail("connect to", ec);
  http::request<http::string_body> req{http::string_to_verb(method), target,
                                       11};
  req.set(http::field::host, host);
  req.set(http::field::user_agent, "bank-client");
  for (auto& [k, v] : headers)
    req.set(k, v);
  if (!body.empty()) {
    req.set(http::field::content_type, "application/json");
    req.body() = body;
  }
  req.prepare_payload();
  stream.expires_after(timeout);
  http::write(stream, req, ec);
  if (ec)
    return fail("write to", ec);
  beast::flat_buffer buffer;
  http::response<http::string_body> res;
  stream.expires_after(timeout);
  http::read(stream, buffer, res, ec);
  if (ec)
    return fail("read from", ec);
  stream.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ec);
  return http_reply{static_cast<int>(res.result_int()), std::move(res.body())};
}

} // namespace bank
