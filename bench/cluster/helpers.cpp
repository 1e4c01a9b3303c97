// annals -- event-sourced aggregates on the C++ Actor Framework.
#include "cluster/helpers.hpp"

#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <netinet/in.h>
#include <sstream>
#include <thread>

namespace cluster_bench {

double ms_between(clock_type::time_point a, clock_type::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

void sleep_s(double s) {
  std::this_thread::sleep_for(std::chrono::duration<double>(s));
}

uint16_t free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

double cpu_seconds(pid_t pid) {
  if (pid == 0) {
    struct rusage ru;
    ::getrusage(RUSAGE_SELF, &ru);
    auto tv = [](const timeval& t) {
      return static_cast<double>(t.tv_sec)
             + static_cast<double>(t.tv_usec) / 1e6;
    };
    return tv(ru.ru_utime) + tv(ru.ru_stime);
  }
  std::ifstream in{"/proc/" + std::to_string(pid) + "/stat"};
  std::string text{std::istreambuf_iterator<char>{in}, {}};
  auto rp = text.rfind(')');
  if (rp == std::string::npos) {
    return 0;
  }
  std::istringstream rest{text.substr(rp + 2)};
  std::string field;
  unsigned long long utime = 0, stime = 0;
  // Fields 3..13, then utime (14) and stime (15).
  for (int i = 3; i <= 13; ++i) {
    rest >> field;
  }
  rest >> utime >> stime;
  return static_cast<double>(utime + stime)
         / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

std::vector<std::string> make_ids(std::size_t n) {
  std::vector<std::string> ids;
  ids.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "a%05zu", i);
    ids.emplace_back(buf);
  }
  return ids;
}

const char* verdict(bool ok) {
  return ok ? "met" : "MISSED";
}

} // namespace cluster_bench
