// annals -- child process of the runtime crash test.
//
// Usage: runtime_crash_child <data dir> <cycle> <retry file>
// Runs the runtime on an LMDB journal (fsync on) and drives it from four
// client threads. Before sending a command it prints
//   send <aggregate> <command id> <cents>
// and after the acknowledgement
//   ack <aggregate> <command id> <revision> <duplicate 0|1>
// First it retries every command listed in <retry file> (lines
// "<aggregate> <command id> <cents>", commands whose outcome the parent
// never saw) with the same command id. The parent SIGKILLs it at random.
#include "annals/runtime.hpp"

#include "sample_account.hpp"

#include <caf/actor_system.hpp>

#include <unistd.h>

#include <atomic>
#include <fstream>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace {

std::mutex out_mtx;

void emit(const std::string& line) {
  std::lock_guard guard{out_mtx};
  auto n = ::write(1, line.data(), line.size());
  (void)n;
}

} // namespace

int main(int argc, char** argv) {
  if (argc != 4)
    return 2;
  std::string dir = argv[1];
  auto cycle = std::stoul(argv[2]);
  annals::config conf;
  conf.set("scheduler.max-threads", 2);
  caf::actor_system sys{conf};
  annals::runtime_config rc;
  rc.data_dir = dir;
  rc.journal.partitions = 16;
  rc.journal.initial_map_bytes = 8 << 20;
  rc.hosts.snapshot_every = 7; // crashes also hit snapshot writes
  auto rt = annals::runtime::start(sys, rc);
  if (!rt) {
    std::fprintf(stderr, "start: %s\n", annals::render(rt.error()).c_str());
    return 3;
  }
  auto accounts = (*rt)->host<sample::account>();
  auto send = [&](const std::string& agg, const std::string& cmd,
                  int64_t cents) {
    emit("send " + agg + " " + cmd + " " + std::to_string(cents) + "\n");
    annals::command_options opts;
    opts.command_id = cmd;
    auto res = accounts.ask(agg, sample::deposit{cents, cmd}, opts);
    if (res)
      emit("ack " + agg + " " + cmd + " " + std::to_string(res->revision) + " "
           + (res->duplicate ? "1" : "0") + "\n");
    else
      std::fprintf(stderr, "error: %s\n", annals::render(res.error()).c_str());
  };
  {
    std::ifstream retries{argv[3]};
    std::string agg, cmd;
    int64_t cents;
    while (retries >> agg >> cmd >> cents)
      send(agg, cmd, cents);
  }
  std::vector<std::thread> clients;
  for (int t = 0; t < 4; ++t)
    clients.emplace_back([&, t] {
      std::mt19937 rng{static_cast<unsigned>(cycle * 31 + t)};
      for (uint64_t n = 0;; ++n)
        send("a" + std::to_string(rng() % 24),
             "c" + std::to_string(cycle) + "-" + std::to_string(t) + "-"
               + std::to_string(n),
             1 + rng() % 100);
    });
  for (auto& c : clients)
    c.join();
}
