// annals -- tests of the annals-journal tool on sound and damaged journals.
#include "annals/persistence/journal.hpp"

#include "run_command.hpp"
#include "temp_dir.hpp"

#include <catch2/catch.hpp>

#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>

using namespace annals;

namespace {

annals::testing::command_result run_tool(const std::string& args) {
  return annals::testing::run_command(std::string{ANNALS_JOURNAL_TOOL} + " "
                                      + args + " 2>&1");
}

void fill(const std::string& dir) {
  auto j = open_lmdb_journal(dir);
  REQUIRE(j);
  for (int i = 0; i < 20; ++i) {
    append_request req;
    req.stream = {"tool", "s" + std::to_string(i % 3)};
    event_data ev;
    ev.type = "tool.event";
    ev.payload = to_bytes("TOOL-PAYLOAD-" + std::to_string(1000 + i));
    req.events.push_back(ev);
    REQUIRE((*j)->append(req));
  }
}

} // namespace

TEST_CASE("annals-journal verifies, dumps and reports stats",
          "[persistence][tool]") {
  annals::testing::temp_dir dir;
  fill(dir.path());
  auto ok = run_tool("verify " + dir.path());
  CHECK(ok.exit_code == 0);
  CHECK(ok.output.find("events=20") != std::string::npos);
  CHECK(ok.output.find("OK") != std::string::npos);
  auto dump = run_tool("stream " + dir.path() + " tool s1");
  CHECK(dump.exit_code == 0);
  CHECK(dump.output.find("tool/s1 rev=7") != std::string::npos);
  CHECK(dump.output.find("tool/s1 rev=8") == std::string::npos);
  auto stats = run_tool("stats " + dir.path());
  CHECK(stats.exit_code == 0);
  CHECK(stats.output.find("partitions=1024 events=20") != std::string::npos);
  CHECK(run_tool("frobnicate " + dir.path()).exit_code == 2);
}

TEST_CASE("annals-journal reports a damaged record", "[persistence][tool]") {
  annals::testing::temp_dir dir;
  fill(dir.path());
  {
    std::fstream f{dir.sub("data.mdb"),
                   std::ios::in | std::ios::out | std::ios::binary};
    std::string data{std::istreambuf_iterator<char>{f}, {}};
    for (auto at = data.find("TOOL-PAYLOAD-1013"); at != std::string::npos;
         at = data.find("TOOL-PAYLOAD-1013", at + 1)) {
      f.seekp(static_cast<std::streamoff>(at + 3));
      f.put('X');
    }
  }
  auto res = run_tool("verify " + dir.path());
  CHECK(res.exit_code == 1);
  CHECK(res.output.find("checksum mismatch") != std::string::npos);
  CHECK(res.output.find("CORRUPT") != std::string::npos);
}

TEST_CASE("annals-journal survives a truncated data file",
          "[persistence][tool]") {
  annals::testing::temp_dir dir;
  fill(dir.path());
  auto size = std::filesystem::file_size(dir.sub("data.mdb"));
  std::filesystem::resize_file(dir.sub("data.mdb"), size / 2);
  auto res = run_tool("verify " + dir.path());
  INFO(res.output);
  // LMDB may fail cleanly or crash on a truncated file; either way the tool
  // itself exits 1 with a clear word, never with a signal.
  CHECK(res.exit_code == 1);
  CHECK((res.output.find("CORRUPT") != std::string::npos
         || res.output.find("journal.") != std::string::npos));
}
