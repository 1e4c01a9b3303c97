// bank -- test support: `promtool check metrics` (Debian package
// `prometheus`) over a scrape.
#pragma once

#include "run_command.hpp"

#include <catch2/catch.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <string>

namespace bank::testing {

/// Runs `promtool check metrics` on `text`. nullopt (and a WARN) if
/// promtool is not installed.
inline std::optional<annals::testing::command_result>
promtool_check(const std::string& text) {
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
  auto res = annals::testing::run_command(
    std::string{"promtool check metrics < "} + path + " 2>&1");
  ::unlink(path);
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
