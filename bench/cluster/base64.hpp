// annals -- event-sourced aggregates on the C++ Actor Framework.
// cluster_bench: base64 (RFC 4648, with padding), as etcd's JSON gateway
// encodes keys and values.
#pragma once

#include <string>

namespace cluster_bench {

std::string base64_encode(const std::string& in);

/// Skips characters outside the alphabet (padding included).
std::string base64_decode(const std::string& in);

} // namespace cluster_bench
