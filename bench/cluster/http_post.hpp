// annals -- event-sourced aggregates on the C++ Actor Framework.
// cluster_bench: a minimal blocking HTTP client for loopback services.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace cluster_bench {

/// POSTs `body` (JSON) to `path` on 127.0.0.1:`port` (HTTP/1.0: no chunked
/// reply; 5 s socket timeouts); the reply's body on status 200, else
/// nullopt (no connection, a timeout, another status).
std::optional<std::string> http_post(uint16_t port, const std::string& path,
                                     const std::string& body);

} // namespace cluster_bench
