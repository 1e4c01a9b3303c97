// bank -- test support: `promtool check metrics` (Debian package
// `prometheus`) over a scrape.
#pragma once

#include <catch2/catch.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <string>

namespace bank::testing {

struct promtool_result {
  int exit_code = -1;
  std::string output;
};

/// Runs `promtool check metrics` on `text`. nullopt (and a WARN) if
/// promtool is not installed.
inline std::optional<promtool_result> promtool_check(const std::string& text) {
  if (std::system("command -v promtool >/dev/null 2>&1") != 0) {
    WARN("promtool is not installed (Debian package prometheus): the "
         "text format is not checked");
    return std::nullopt;
  }
  char path[] = "/tmp/annals-metrics-XXXXXX";
  int fd = ::mkstemp(path);
  REQUIRE(fd >= 0);
  ::close(fd);
  std::ofstream{path} << text;
  std::string cmd = std::string{"promtool check metrics < "} + path + " 2>&1";
  promtool_result res;
  FILE* p = ::popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  char buf[4096];
  while (auto n = std::fread(buf, 1, sizeof buf, p))
    res.output.append(buf, n);
  auto status = ::pclose(p);
  ::unlink(path);
  res.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return res;
}

/// The value of the series whose line starts with `series` + " " (name
/// and labels exactly as rendered), or nullopt.
inline std::optional<double> sample(const std::string& text,
                                    const std::string& series) {
  auto key = "\n" + series + " ";
  auto at = ("\n" + text).find(key);
  if (at == std::string::npos)
    return std::nullopt;
  return std::strtod(text.c_str() + at + key.size() - 1, nullptr);
}

} // namespace bank::testing
