// annals -- child process of the read-only journal tests: a live writer.
//
// Usage: journal_writer_child <dir>
// Opens the journal in <dir> read-write (8 partitions, a 1 MiB map so that
// the map doubles soon and often, no fsync). For each line "<k>" on stdin
// it commits k batches, one after the other; EOF ends it. Each batch
// appends 8 commands, one event of 4 KiB each, with command ids w0, w1, ...
// on streams writer/s<i mod 16>. After each commit it prints
// "committed <n>": commands w0 .. w<n-1> are all committed.
#include "annals/persistence/journal.hpp"

#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <string>

using namespace annals;

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <dir>\n", argv[0]);
    return 2;
  }
  journal_options opts;
  opts.partitions = 8;
  opts.sync = durability::unsafe_no_sync;
  opts.initial_map_bytes = uint64_t{1} << 20;
  auto j = open_lmdb_journal(argv[1], opts);
  if (!j) {
    std::fprintf(stderr, "open: %s\n", describe(j.error()).c_str());
    return 3;
  }
  uint64_t n = 0;
  std::string request;
  while (std::getline(std::cin, request))
    for (auto k = std::stoul(request); k > 0; --k) {
      write_batch b;
      for (int i = 0; i < 8; ++i, ++n) {
        append_request req;
        req.stream = {"writer", "s" + std::to_string(n % 16)};
        req.command_id = "w" + std::to_string(n);
        event_data ev;
        ev.type = "writer.event";
        ev.payload = to_bytes(req.command_id + std::string(4096, 'x'));
        req.events.push_back(std::move(ev));
        b.appends.push_back(std::move(req));
      }
      auto res = (*j)->commit(b);
      if (!res) {
        std::fprintf(stderr, "commit: %s\n", describe(res.error()).c_str());
        return 4;
      }
      for (const auto& part : res->appends)
        if (!part) {
          std::fprintf(stderr, "append: %s\n", describe(part.error()).c_str());
          return 4;
        }
      auto line = "committed " + std::to_string(n) + "\n";
      if (::write(1, line.data(), line.size())
          != static_cast<ssize_t>(line.size()))
        return 5;
    }
  return 0;
}
