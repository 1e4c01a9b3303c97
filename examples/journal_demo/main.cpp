// annals -- journal demo: the main job until the bank example replaces it.
//
// Opens a journal in ./annals-demo-data (or argv[1]), appends deposits to a
// few accounts in group-committed batches, shows optimistic concurrency and
// idempotent retries, then reads a stream and a partition back.
#include "annals/persistence/journal.hpp"

#include <chrono>
#include <cstdio>
#include <filesystem>

using namespace annals;

namespace {

event_data deposit(int cents) {
  event_data ev;
  ev.type = "bank.money_deposited";
  ev.payload = to_bytes("{\"cents\":" + std::to_string(cents) + "}");
  return ev;
}

} // namespace

int main(int argc, char** argv) {
  std::string dir = argc > 1 ? argv[1] : "annals-demo-data";
  std::filesystem::remove_all(dir);
  auto opened = open_lmdb_journal(dir);
  if (!opened) {
    std::fprintf(stderr, "cannot open journal: %s\n",
                 describe(opened.error()).c_str());
    return 1;
  }
  auto& j = **opened;
  const char* owners[] = {"alice", "bob", "carol", "dave"};
  auto t0 = std::chrono::steady_clock::now();
  int batches = 200;
  for (int b = 0; b < batches; ++b) {
    write_batch batch; // one transaction, one fsync
    for (auto owner : owners) {
      append_request req;
      req.stream = {"bank.account", owner};
      req.command_id = std::string{owner} + "-" + std::to_string(b);
      req.events.push_back(deposit(100 + b));
      batch.appends.push_back(std::move(req));
    }
    if (auto res = j.commit(batch); !res) {
      std::fprintf(stderr, "commit failed: %s\n",
                   describe(res.error()).c_str());
      return 1;
    }
  }
  auto secs
    = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
        .count();
  std::printf("appended %d events in %d durable commits (%.0f events/s)\n",
              batches * 4, batches, batches * 4 / secs);
  append_request retry;
  retry.stream = {"bank.account", "alice"};
  retry.command_id = "alice-7";
  retry.events.push_back(deposit(107));
  auto dup = j.append(retry);
  std::printf("retrying command alice-7: %s (revision %llu)\n",
              dup && dup->duplicate ? "deduplicated, nothing written"
                                    : "UNEXPECTED",
              dup ? static_cast<unsigned long long>(dup->first_revision) : 0);
  append_request racy;
  racy.stream = {"bank.account", "bob"};
  racy.expected = expected_revision::exactly(3);
  racy.events.push_back(deposit(1));
  auto conflict = j.append(racy);
  std::printf("append to bob expecting revision 3: %s\n",
              conflict ? "UNEXPECTED success"
                       : describe(conflict.error()).c_str());
  auto events = j.read_stream({"bank.account", "alice"}, 198);
  if (!events)
    return 1;
  for (const auto& ev : *events)
    std::printf("  alice rev %llu at partition %u position %llu: %s %s\n",
                static_cast<unsigned long long>(ev.rev), ev.partition,
                static_cast<unsigned long long>(ev.pos), ev.type.c_str(),
                bytes_to_string(ev.payload).c_str());
  auto rep = j.verify();
  if (!rep || !rep->problems.empty()) {
    std::fprintf(stderr, "verify found problems\n");
    return 1;
  }
  std::printf("verified %llu events in %llu streams: all checksums ok\n",
              static_cast<unsigned long long>(rep->events),
              static_cast<unsigned long long>(rep->streams));
  return 0;
}
