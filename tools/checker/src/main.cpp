// annals-check -- checks a client history against the journals of a cluster.
//
//   annals-check --history=FILE --journal=DIR [--journal=DIR ...]
//                [--max-events-per-command=N]
//
// FILE is in the format described in annals/checker/checker.hpp (one line
// per operation event: invoke|ok|fail|unknown client stream command_id
// [revision], and `seen subscriber stream revision`). Each DIR is one
// node's LMDB journal; stop the nodes first (the tool takes the directory
// lock). Prints the report; exits 0 when there is no anomaly, 1 when there
// is one, 2 on a usage error or an unreadable input.
#include "annals/checker/checker.hpp"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

using namespace annals;

namespace {

int usage() {
  std::fprintf(stderr, "usage: annals-check --history=FILE --journal=DIR "
                       "[--journal=DIR ...] [--max-events-per-command=N]\n");
  return 2;
}

bool starts_with(const std::string& s, const std::string& prefix,
                 std::string& rest) {
  if (s.rfind(prefix, 0) != 0)
    return false;
  rest = s.substr(prefix.size());
  return true;
}

} // namespace

int main(int argc, char** argv) {
  std::string history_file;
  std::vector<std::string> dirs;
  checker::options opts;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i], v;
    if (starts_with(a, "--history=", v)) {
      history_file = v;
    } else if (starts_with(a, "--journal=", v)) {
      dirs.push_back(v);
    } else if (starts_with(a, "--max-events-per-command=", v)) {
      try {
        opts.max_events_per_command = static_cast<uint32_t>(std::stoul(v));
      } catch (const std::exception&) {
        return usage();
      }
    } else {
      return usage();
    }
  }
  if (history_file.empty() || dirs.empty())
    return usage();
  std::ifstream in{history_file};
  if (!in) {
    std::fprintf(stderr, "annals-check: cannot read %s\n",
                 history_file.c_str());
    return 2;
  }
  std::string error;
  auto h = checker::parse_history(in, error);
  if (!h) {
    std::fprintf(stderr, "annals-check: %s: %s\n", history_file.c_str(),
                 error.c_str());
    return 2;
  }
  std::vector<std::unique_ptr<journal>> stores;
  std::vector<checker::journal_source> sources;
  for (const auto& d : dirs) {
    std::error_code ec;
    if (!std::filesystem::is_directory(d, ec)) {
      std::fprintf(stderr, "annals-check: %s is not a directory\n", d.c_str());
      return 2;
    }
    journal_options jo;
    jo.partitions = 0; // whatever is stored
    auto j = open_lmdb_journal(d, jo);
    if (!j) {
      std::fprintf(stderr, "annals-check: %s: %s\n", d.c_str(),
                   describe(j.error()).c_str());
      return 2;
    }
    stores.push_back(std::move(*j));
    sources.push_back({d, stores.back().get()});
  }
  auto rep = checker::check(*h, sources, opts);
  std::cout << rep.to_string();
  return rep.valid() ? 0 : 1;
}
