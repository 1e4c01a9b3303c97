// annals -- child process of the journal crash test.
//
// Usage: journal_crash_child <dir> <cycle> [keep-going|truncate]
// Appends random batches (fsync on) to the journal in <dir> forever and
// prints one line per acknowledged append part, after its commit returned:
//   ack <stream id> <first revision> <last revision> <command id>
//       <partition> <first position> <last position>
// The parent SIGKILLs it at a random moment. With `keep-going` (storage
// fault tests) a failed commit prints "error <description>" and the child
// tries five more commits, printing what each returns, then exits with 4.
// With `truncate`, every fourth commit is followed by a truncation of the
// partition of its last append (alternately to half its length and to just
// before that append), printed once it returned:
//   truncated <partition> <after>
// The journal keeps at most 256 unindexed events, so that commits flush
// index entries all the time and a kill often falls between a commit and
// the flush of its entries.
#include "annals/persistence/journal.hpp"

#include <unistd.h>

#include <cstdio>
#include <random>
#include <string>

using namespace annals;

int main(int argc, char** argv) {
  if (argc != 3 && argc != 4) {
    std::fprintf(stderr, "usage: %s <dir> <cycle> [keep-going]\n", argv[0]);
    return 2;
  }
  bool keep_going = argc == 4 && std::string{argv[3]} == "keep-going";
  bool truncate = argc == 4 && std::string{argv[3]} == "truncate";
  int errors = 0;
  std::string dir = argv[1];
  auto cycle = std::stoul(argv[2]);
  journal_options opts;
  opts.partitions = 64;
  opts.initial_map_bytes = 8 << 20; // small: crashes also hit map growth
  opts.max_unindexed_events = 256;
  auto j = open_lmdb_journal(dir, opts);
  if (!j) {
    std::fprintf(stderr, "open: %s\n", describe(j.error()).c_str());
    if (keep_going) {
      auto text = "error " + describe(j.error()) + "\n";
      if (::write(1, text.data(), text.size()) < 0)
        return 5;
    }
    return 3;
  }
  std::mt19937_64 rng{cycle * 7919 + 17};
  uint64_t n = 0;
  uint64_t commits = 0;
  std::string line;
  for (;;) {
    write_batch b;
    auto parts = 1 + rng() % 16;
    for (uint64_t i = 0; i < parts; ++i) {
      append_request req;
      req.stream = {"crash", "s" + std::to_string(rng() % 40)};
      req.command_id = "c" + std::to_string(cycle) + "-" + std::to_string(n++);
      auto events = 1 + rng() % 3;
      for (uint64_t e = 0; e < events; ++e) {
        event_data ev;
        ev.type = "crash.event";
        ev.payload = to_bytes(req.command_id + "#" + std::to_string(e)
                              + std::string(rng() % 200, 'p'));
        req.events.push_back(std::move(ev));
      }
      b.appends.push_back(std::move(req));
    }
    auto res = (*j)->commit(b);
    if (!res) {
      if (!keep_going) {
        std::fprintf(stderr, "commit: %s\n", describe(res.error()).c_str());
        return 4;
      }
      line = "error " + describe(res.error()) + "\n";
      if (::write(1, line.data(), line.size()) < 0)
        return 5;
      if (++errors > 5)
        return 4;
      continue;
    }
    for (std::size_t i = 0; i < parts; ++i) {
      const auto& part = res->appends[i];
      if (!part)
        continue;
      line = "ack " + b.appends[i].stream.id + " "
             + std::to_string(part->first_revision) + " "
             + std::to_string(part->last_revision) + " "
             + b.appends[i].command_id + " " + std::to_string(part->partition)
             + " " + std::to_string(part->first_position) + " "
             + std::to_string(part->last_position) + "\n";
      // One write per line: a line in the pipe was acknowledged.
      if (::write(1, line.data(), line.size())
          != static_cast<ssize_t>(line.size()))
        return 5;
    }
    if (truncate && ++commits % 4 == 0) {
      // The partition of the batch's last acknowledged append: every other
      // time at half its end, else just before that append (so that a
      // whole acknowledged command goes).
      const append_result* last = nullptr;
      for (const auto& part : res->appends)
        if (part)
          last = &*part;
      if (last == nullptr)
        continue;
      auto p = last->partition;
      auto ends = (*j)->partition_ends();
      if (!ends)
        return 6;
      auto after = commits % 8 == 0 ? (*ends)[p] / 2 : last->first_position - 1;
      auto cut = (*j)->truncate_partition(p, after);
      if (!cut) {
        std::fprintf(stderr, "truncate: %s\n", describe(cut.error()).c_str());
        return 7;
      }
      line
        = "truncated " + std::to_string(p) + " " + std::to_string(after) + "\n";
      if (::write(1, line.data(), line.size())
          != static_cast<ssize_t>(line.size()))
        return 5;
    }
  }
}
