// annals-journal -- inspect and verify a journal data directory.
//
//   annals-journal stats <dir>
//   annals-journal ends <dir>                      non-empty partition ends
//   annals-journal stream <dir> <category> <id> [from-revision]
//   annals-journal partition <dir> <partition> [from-position]
//   annals-journal verify <dir>
//   annals-journal upgrade <dir>                   convert format 1 in place
//
// Exit codes: 0 ok, 1 the journal has problems or an operation failed,
// 2 usage error. `verify` runs the check in a child process, so that a
// damaged LMDB file that crashes LMDB itself (SIGSEGV, SIGBUS, abort) is
// reported as corruption instead of killing the tool without a word.
//
// Every command opens the journal read-only (open_lmdb_journal_read_only):
// no directory lock, nothing written, so it runs beside a live node. Each
// command reads one consistent state (the node's last commit before it
// began); `verify` checks one such snapshot, holding its read transaction
// for as long as it runs (the node's data file may grow meanwhile).
//
// `upgrade` is the exception: it takes the directory's lock (so it refuses
// to run beside a node or a reader) and converts a format-1 journal to this
// build's format crash-safely (annals/persistence/upgrade.hpp), printing its
// progress; on a journal already in this format it says so and exits 0.
#include "annals/persistence/journal.hpp"
#include "annals/persistence/upgrade.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <limits>
#include <optional>
#include <string>

using namespace annals;

namespace {

int usage() {
  std::fprintf(stderr,
               "usage: annals-journal stats <dir>\n"
               "       annals-journal ends <dir>\n"
               "       annals-journal stream <dir> <category> <id> [from]\n"
               "       annals-journal partition <dir> <partition> [from]\n"
               "       annals-journal verify <dir>\n"
               "       annals-journal upgrade <dir>\n");
  return 2;
}

/// A decimal number, or nullopt.
std::optional<uint64_t> number(const char* text) {
  uint64_t x = 0;
  auto end = text + std::strlen(text);
  auto [p, ec] = std::from_chars(text, end, x);
  if (p == text || p != end || ec != std::errc{})
    return std::nullopt;
  return x;
}

std::unique_ptr<journal> open_dir(const std::string& dir) {
  auto j = open_lmdb_journal_read_only(dir);
  if (!j) {
    std::fprintf(stderr, "annals-journal: %s\n", describe(j.error()).c_str());
    return nullptr;
  }
  return std::move(*j);
}

std::string printable(const std::vector<std::byte>& payload) {
  std::string out;
  for (auto b : payload) {
    auto c = static_cast<unsigned char>(b);
    if (out.size() >= 80) {
      out += "...";
      break;
    }
    out += std::isprint(c) ? static_cast<char>(c) : '.';
  }
  return out;
}

void print_event(const recorded_event& ev) {
  std::printf("%s rev=%llu p=%u pos=%llu type=%s v%u epoch=%llu cmd=%s "
              "bytes=%zu %s\n",
              to_string(ev.stream).c_str(),
              static_cast<unsigned long long>(ev.rev), ev.partition,
              static_cast<unsigned long long>(ev.pos), ev.type.c_str(),
              ev.schema_version, static_cast<unsigned long long>(ev.meta.epoch),
              ev.meta.command_id.empty() ? "-" : ev.meta.command_id.c_str(),
              ev.payload.size(), printable(ev.payload).c_str());
}

int print_events(const caf::expected<std::vector<recorded_event>>& events) {
  if (!events) {
    std::fprintf(stderr, "annals-journal: %s\n",
                 describe(events.error()).c_str());
    return 1;
  }
  for (const auto& ev : *events)
    print_event(ev);
  return 0;
}

int verify_in_this_process(const std::string& dir) {
  auto j = open_dir(dir);
  if (!j)
    return 1;
  auto rep = j->verify();
  if (!rep) {
    std::printf("verify failed: %s\n", describe(rep.error()).c_str());
    return 1;
  }
  std::printf("events=%llu streams=%llu snapshots=%llu partitions_used=%llu\n",
              static_cast<unsigned long long>(rep->events),
              static_cast<unsigned long long>(rep->streams),
              static_cast<unsigned long long>(rep->snapshots),
              static_cast<unsigned long long>(rep->partitions_used));
  for (const auto& p : rep->problems)
    std::printf("PROBLEM: %s\n", p.c_str());
  std::printf("%s\n", rep->problems.empty() ? "OK" : "CORRUPT");
  return rep->problems.empty() ? 0 : 1;
}

int verify(const std::string& dir) {
  std::fflush(stdout);
  auto pid = ::fork();
  if (pid < 0) {
    std::perror("fork");
    return 1;
  }
  if (pid == 0) {
    auto rc = verify_in_this_process(dir);
    std::fflush(stdout);
    ::_exit(rc);
  }
  int status = 0;
  if (::waitpid(pid, &status, 0) != pid) {
    std::perror("waitpid");
    return 1;
  }
  if (WIFSIGNALED(status)) {
    std::printf("CORRUPT: reading %s crashed the checker (signal %d: %s); the "
                "LMDB file is damaged beyond record checksums\n",
                dir.c_str(), WTERMSIG(status), strsignal(WTERMSIG(status)));
    return 1;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

const char* stage_name(upgrade_report::stage x) {
  switch (x) {
  case upgrade_report::stage::copying:
    return "copying";
  case upgrade_report::stage::verifying:
    return "verifying";
  case upgrade_report::stage::switching:
    return "switching";
  case upgrade_report::stage::done:
    break;
  }
  return "done";
}

int upgrade(const std::string& dir) {
  // One line per stage, and while copying one per percent at most (one per
  // commit on a small journal), flushed so that a pipe sees it at once.
  auto stage = upgrade_report::stage::done;
  uint64_t printed = 0;
  auto progress = [&](const upgrade_report& r) {
    if (r.at == upgrade_report::stage::done)
      return;
    if (r.at == stage && r.events_copied < r.events_total
        && (r.events_copied - printed) * 100 < r.events_total)
      return;
    stage = r.at;
    printed = r.events_copied;
    std::printf("upgrade: %s: %llu of %llu events copied\n", stage_name(r.at),
                static_cast<unsigned long long>(r.events_copied),
                static_cast<unsigned long long>(r.events_total));
    std::fflush(stdout);
  };
  auto rep = upgrade_lmdb_journal(dir, progress);
  if (!rep) {
    std::fprintf(stderr, "annals-journal: %s\n", describe(rep.error()).c_str());
    return 1;
  }
  if (!rep->upgraded) {
    std::printf("upgrade: %s is already in format %u; nothing to do\n",
                dir.c_str(), rep->to_format);
    return 0;
  }
  std::printf("upgrade: done: format %u -> %u, %u partitions, %llu events in "
              "%llu appends, %llu snapshots, %llu checkpoints, %llu read-model "
              "rows, %llu partition epochs\n",
              rep->from_format, rep->to_format, rep->partitions,
              static_cast<unsigned long long>(rep->events_copied),
              static_cast<unsigned long long>(rep->appends_copied),
              static_cast<unsigned long long>(rep->snapshots),
              static_cast<unsigned long long>(rep->checkpoints),
              static_cast<unsigned long long>(rep->model_rows),
              static_cast<unsigned long long>(rep->epochs));
  if (rep->command_ids_dropped > 0)
    std::printf("upgrade: %llu appends shared their command id with another "
                "append of their stream (a retry after the dedupe window); "
                "they were copied without it\n",
                static_cast<unsigned long long>(rep->command_ids_dropped));
  std::printf("upgrade: the old journal is kept as %s; delete it when the "
              "node runs well\n",
              rep->backup.c_str());
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  if (argc < 3)
    return usage();
  std::string cmd = argv[1];
  std::string dir = argv[2];
  if (cmd == "verify")
    return verify(dir);
  if (cmd == "upgrade")
    return argc == 3 ? upgrade(dir) : usage();
  auto j = open_dir(dir);
  if (!j)
    return 1;
  if (cmd == "stats") {
    auto st = j->stats();
    if (!st) {
      std::fprintf(stderr, "annals-journal: %s\n",
                   describe(st.error()).c_str());
      return 1;
    }
    std::printf("partitions=%u events=%llu stream_index_entries=%llu "
                "snapshots=%llu unindexed_events=%llu map_bytes=%llu "
                "used_bytes=%llu\n",
                st->partitions, static_cast<unsigned long long>(st->events),
                static_cast<unsigned long long>(st->stream_index_entries),
                static_cast<unsigned long long>(st->snapshots),
                static_cast<unsigned long long>(st->unindexed_events),
                static_cast<unsigned long long>(st->map_bytes),
                static_cast<unsigned long long>(st->used_bytes));
    return 0;
  }
  if (cmd == "ends") {
    auto ends = j->partition_ends();
    if (!ends) {
      std::fprintf(stderr, "annals-journal: %s\n",
                   describe(ends.error()).c_str());
      return 1;
    }
    for (std::size_t p = 0; p < ends->size(); ++p)
      if ((*ends)[p] > 0)
        std::printf("partition %zu end %llu\n", p,
                    static_cast<unsigned long long>((*ends)[p]));
    return 0;
  }
  if (cmd == "stream" && (argc == 5 || argc == 6)) {
    auto from = argc == 6 ? number(argv[5]) : std::optional<uint64_t>{1};
    if (!from)
      return usage();
    return print_events(j->read_stream({argv[3], argv[4]}, *from));
  }
  if (cmd == "partition" && (argc == 4 || argc == 5)) {
    auto p = number(argv[3]);
    auto from = argc == 5 ? number(argv[4]) : std::optional<uint64_t>{1};
    if (!p || *p > std::numeric_limits<partition_id>::max() || !from)
      return usage();
    return print_events(
      j->read_partition(static_cast<partition_id>(*p), *from));
  }
  return usage();
}
