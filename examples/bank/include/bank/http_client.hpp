// bank -- a small synchronous HTTP/1.1 client (the demo and bank-cli).
#pragma once

#include <caf/expected.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace bank {

struct http_reply {
  int status = 0;
  std::string body;
};

/// Sends one request to `host:port` and reads the response; every step
/// (connect, write, read) must finish within `timeout`. A non-empty `body`
/// goes as application/json. Never throws.
/// @returns the status and body, or `caf::sec::cannot_connect_to_node`
///          (naming the address and the cause) on any transport failure.
caf::expected<http_reply>
http_request(const std::string& host, uint16_t port, const std::string& method,
             const std::string& target, const std::string& body = {},
             const std::vector<std::pair<std::string, std::string>>& headers
             = {},
             std::chrono::milliseconds timeout = std::chrono::seconds{15});

} // namespace bank
