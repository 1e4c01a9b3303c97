// annals -- event-sourced aggregates on the C++ Actor Framework.
#include "cluster/http_post.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <netinet/in.h>

namespace cluster_bench {

std::optional<std::string> http_post(uint16_t port, const std::string& path,
                                     const std::string& body) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return std::nullopt;
  }
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return std::nullopt;
  }
  auto req = "POST " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n"
             + "Content-Type: application/json\r\nContent-Length: "
             + std::to_string(body.size()) + "\r\n\r\n" + body;
  std::size_t sent = 0;
  while (sent < req.size()) {
    auto n = ::write(fd, req.data() + sent, req.size() - sent);
    if (n <= 0) {
      ::close(fd);
      return std::nullopt;
    }
    sent += static_cast<std::size_t>(n);
  }
  std::string reply;
  char chunk[4096];
  for (;;) {
    auto n = ::read(fd, chunk, sizeof chunk);
    if (n < 0) {
      ::close(fd);
      return std::nullopt;
    }
    if (n == 0) {
      break;
    }
    reply.append(chunk, static_cast<std::size_t>(n));
  }
  ::close(fd);
  auto head_end = reply.find("\r\n\r\n");
  if (head_end == std::string::npos || reply.rfind("HTTP/1.", 0) != 0
      || reply.find(" 200 ") > reply.find("\r\n")) {
    return std::nullopt;
  }
  return reply.substr(head_end + 4);
}

} // namespace cluster_bench
