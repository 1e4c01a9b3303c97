// annals -- child process of the pub-sub crash test.
//
// Usage: pubsub_crash_child <data dir> <cycle> load|drain
// Runs the runtime with a durable consumer "tail" (resuming from its
// checkpoint) that prints "got <id> <revision>" after handling each event.
// In `load` mode two client threads also deposit into 8 accounts, printing
// "ack <id> <revision>" after each acknowledgement; the parent SIGKILLs it.
// In `drain` mode it writes nothing, prints "done" once the consumer's
// checkpoint covers every stored event, and exits.
#include "annals/runtime.hpp"

#include "sample_account.hpp"

#include <caf/actor_system.hpp>

#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
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
  bool drain = std::string{argv[3]} == "drain";
  annals::config conf;
  conf.set("scheduler.max-threads", 2);
  caf::actor_system sys{conf};
  annals::runtime_config rc;
  rc.data_dir = dir;
  rc.journal.partitions = 8;
  auto rt = annals::runtime::start(sys, rc);
  if (!rt)
    return 3;
  std::mutex mtx;
  std::condition_variable cv;
  annals::subscription_options opts;
  opts.consumer = "tail";
  opts.start = annals::start_from::checkpoint;
  opts.checkpoint_every = 5;
  opts.batch_size = 8;
  auto sub = (*rt)->subscribe(opts, [&](const annals::recorded_event& ev) {
    emit("got " + ev.stream.id + " " + std::to_string(ev.rev) + "\n");
    cv.notify_all();
    return caf::error{};
  });
  if (drain) {
    // Done once the consumer's checkpoint reached every partition's end:
    // every stored event was handled (and printed) in this or an earlier
    // run.
    auto& store = (*rt)->store();
    auto ends = store.partition_ends().value();
    for (;;) {
      bool caught_up = true;
      for (annals::partition_id p = 0; p < ends.size(); ++p) {
        auto cp = store.load_checkpoint("tail", p);
        if (!cp || cp->value_or(0) < ends[p])
          caught_up = false;
      }
      if (caught_up)
        break;
      std::unique_lock guard{mtx};
      cv.wait_for(guard, std::chrono::milliseconds{10});
    }
    emit("done\n");
    std::_Exit(0);
  }
  auto accounts = (*rt)->host<sample::account>();
  std::vector<std::thread> clients;
  for (int t = 0; t < 2; ++t)
    clients.emplace_back([&, t] {
      for (unsigned n = 0;; ++n) {
        auto id = "t" + std::to_string((n * 2 + t + cycle) % 8);
        auto res = accounts.ask(id, sample::deposit{1, ""});
        if (res)
          emit("ack " + id + " " + std::to_string(res->revision) + "\n");
      }
    });
  for (auto& c : clients)
    c.join();
}
