// annals -- Catch2's main for every test binary.
//
// A run whose filter matches no test case fails ("No tests ran"), instead
// of passing: ctest runs each case by its name, and a name that Catch and
// ctest read differently (a ';' splits a ctest list) must not pass unrun.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

int main(int argc, char* argv[]) {
  Catch::Session session;
  if (auto rc = session.applyCommandLine(argc, argv); rc != 0)
    return rc;
  auto& cfg = session.configData();
  cfg.warnings = static_cast<Catch::WarnAbout::What>(
    cfg.warnings | Catch::WarnAbout::NoTests);
  return session.run();
}
