// annals -- event-sourced aggregates on the C++ Actor Framework.
// Part of the cluster module (internal to the etcd client): what copies of
// a `client` share, and the pieces of a call the watch reuses.
#pragma once

#include "etcd/etcd_client.hpp"
#include "etcd/transport.hpp"

#include <atomic>
#include <vector>

namespace annals::cluster::etcd {

struct client::state {
  std::vector<detail::endpoint> endpoints;
  std::shared_ptr<boost::asio::ssl::context> tls;
  /// Index of the endpoint that last answered.
  std::atomic<size_t> current{0};
};

namespace detail {

/// A POST of `body` (JSON) to `path` on `ep`; with `require_leader`, a
/// member without a leader refuses it at once ("no leader").
boost::beast::http::request<boost::beast::http::string_body>
make_post(const endpoint& ep, const std::string& path, std::string body,
          bool require_leader = true);

/// "127.0.0.1:2379 (connect): Connection refused".
std::string describe_failure(const endpoint& ep, const char* step,
                             const error_code& ec);

} // namespace detail

} // namespace annals::cluster::etcd
