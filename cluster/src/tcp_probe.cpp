// annals -- event-sourced aggregates on the C++ Actor Framework.
#include "tcp_probe.hpp"

#include "annals/errc.hpp"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace annals::cluster::detail {

namespace {

/// One non-blocking connect to `ai`; 0 or an errno value.
int try_connect(const addrinfo& ai, std::chrono::milliseconds timeout) {
  int fd = ::socket(ai.ai_family, ai.ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                    ai.ai_protocol);
  if (fd < 0)
    return errno;
  int rc = 0;
  if (::connect(fd, ai.ai_addr, ai.ai_addrlen) != 0) {
    rc = errno;
    if (rc == EINPROGRESS) {
      pollfd p{fd, POLLOUT, 0};
      auto n = ::poll(&p, 1, static_cast<int>(timeout.count()));
      if (n == 0) {
        rc = ETIMEDOUT;
      } else if (n < 0) {
        rc = errno;
      } else {
        socklen_t len = sizeof rc;
        if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &rc, &len) != 0)
          rc = errno;
      }
    }
  }
  ::close(fd);
  return rc;
}

} // namespace

caf::error probe_tcp(const std::string& host, uint16_t port,
                     std::chrono::milliseconds timeout) {
  auto where = host + ":" + std::to_string(port);
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_family = AF_UNSPEC;
  addrinfo* res = nullptr;
  auto service = std::to_string(port);
  if (auto rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &res);
      rc != 0)
    return make_error(errc::unavailable,
                      "cannot resolve " + where + ": " + ::gai_strerror(rc));
  int last = EHOSTUNREACH;
  for (auto* ai = res; ai != nullptr; ai = ai->ai_next) {
    last = try_connect(*ai, timeout);
    if (last == 0)
      break;
  }
  ::freeaddrinfo(res);
  if (last == 0)
    return {};
  return make_error(errc::unavailable,
                    "cannot reach " + where + ": " + std::strerror(last));
}

} // namespace annals::cluster::detail
