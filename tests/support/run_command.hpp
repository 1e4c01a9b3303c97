// annals -- test support: runs a shell command and collects what it prints.
#pragma once

#include <catch2/catch.hpp>

#include <sys/wait.h>

#include <cstdio>
#include <string>

namespace annals::testing {

struct command_result {
  int exit_code = -1; ///< -1: killed by a signal
  std::string output; ///< stdout (append " 2>&1" to the command for stderr)
};

/// Runs `command` with /bin/sh and waits for it.
inline command_result run_command(const std::string& command) {
  command_result res;
  FILE* p = ::popen(command.c_str(), "r");
  REQUIRE(p != nullptr);
  char buf[4096];
  while (auto n = std::fread(buf, 1, sizeof buf, p))
    res.output.append(buf, n);
  auto status = ::pclose(p);
  res.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return res;
}

} // namespace annals::testing
