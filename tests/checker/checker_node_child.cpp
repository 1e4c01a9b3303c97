// annals -- a cluster node for the history-checker tests (built twice: as
// checker_node_child, and with ANNALS_PLANTED_BUGS as
// checker_node_child_planted).
//
// Usage: checker_node_child --annals.data-dir=D --cluster.name=N
//          --cluster.port=P [--cluster.etcd=host:port,...
//          --cluster.cluster-name=C --cluster.initial-members=K]
//          [--sub=NAME] [--plant=BUG]
// Hosts `sample::account` and prints "READY <port>" once it runs (in
// replicated mode with etcd, else standalone).
// --sub=NAME subscribes to every sample.account event of the cluster (from
//   the beginning) and prints "SEEN NAME <category/id> <revision> <command>"
//   for each.
// --plant=BUG sets ANNALS_PLANT_BUG=BUG (only a planted build reacts).
// --verbose logs at info level (maps, replicas) on stderr.
// --consumer=NAME adds a durable local consumer of sample.account that
//   checkpoints every 8 events (and prints nothing).
// Then reads commands on stdin, one per line: those of
// annals/tools/node_program.hpp (status, leave, replicas, stats), and
//   stale N  -> a stale leader: among acct-0 .. acct-(N-1), the first stream
//               in this node's journal whose partition this node does not
//               lead and whose last event has an epoch below the
//               partition's epoch in this journal (a leader since replaced
//               wrote it) gets one more event appended directly to the
//               journal with that event's epoch (what a leader that missed
//               its loss of leadership would write).
//               "STALE ok <id> <revision> <epoch>", "STALE refused <id>
//               <error>" or "STALE none <id>:<why not>...".
//   fail NAME P -> enables crash point NAME with probability P
//               (annals/failpoint.hpp): "FAIL ok" or "FAIL refused".
//   pass NAME -> disables crash point NAME again: "PASS ok" or "PASS
//               refused" (it was not enabled).
// and stops cleanly on EOF.
#include "annals/failpoint.hpp"
#include "annals/log.hpp"
#include "annals/render.hpp"
#include "annals/tools/node_program.hpp"

#include "sample_account.hpp"

#include <caf/actor_system.hpp>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

namespace {

using annals::tools::say;

std::string stale_write(annals::runtime& rt, annals::cluster::node& node,
                        int n) {
  auto reps = node.replicas();
  if (!reps)
    return "STALE refused - " + annals::render(reps.error());
  auto& store = rt.store();
  std::vector<bool> leading(store.partition_count(), false);
  for (const auto& r : *reps)
    if (r.phase == "leader" && r.partition < leading.size())
      leading[r.partition] = true;
  std::string seen; // why each was passed over: "<id>:<why>"
  for (int i = 0; i < n; ++i) {
    auto id = "acct-" + std::to_string(i);
    annals::stream_id sid{"sample.account", id};
    auto p = annals::partition_of(sid, store.partition_count());
    if (leading[p]) {
      seen += " " + id + ":leads";
      continue;
    }
    auto last = store.last_revision(sid);
    if (!last || *last == 0)
      continue;
    auto evs = store.read_stream(sid, *last, 1);
    if (!evs || evs->empty())
      continue;
    const auto& ev = evs->front();
    // Written before the partition's epoch moved on: by a leader since
    // replaced, whose epoch this one was.
    auto fence = store.partition_epoch(p);
    if (!fence || ev.meta.epoch >= *fence) {
      seen += " " + id + ":epoch" + std::to_string(ev.meta.epoch) + "/"
              + (fence ? std::to_string(*fence) : std::string{"?"});
      continue;
    }
    annals::append_request req;
    req.stream = sid;
    req.command_id = "stale-" + id;
    req.epoch = ev.meta.epoch;
    annals::event_data d;
    d.type = ev.type;
    d.schema_version = ev.schema_version;
    d.payload = ev.payload;
    req.events.push_back(std::move(d));
    auto res = store.append(std::move(req));
    if (!res)
      return "STALE refused " + id + " " + annals::render(res.error());
    return "STALE ok " + id + " " + std::to_string(res->last_revision) + " "
           + std::to_string(ev.meta.epoch);
  }
  return "STALE none" + seen;
}

} // namespace

int main(int argc, char** argv) {
  // Our own options first; CAF gets the rest.
  std::vector<char*> args;
  std::string sub;
  std::string consumer;
  for (int i = 0; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--sub=", 0) == 0)
      sub = a.substr(6);
    else if (a.rfind("--consumer=", 0) == 0)
      consumer = a.substr(11);
    else if (a == "--verbose")
      annals::set_log_level(annals::log_level::info);
    else if (a.rfind("--plant=", 0) == 0)
      ::setenv("ANNALS_PLANT_BUG", a.substr(8).c_str(), 1);
    else
      args.push_back(argv[i]);
  }
  annals::tools::node_program_hooks hooks;
  hooks.configure = [](annals::cluster::config& cfg) {
    cfg.add_message_types<caf::id_block::sample>();
  };
  hooks.serve = [&](annals::runtime& rt, annals::cluster::node& node) {
    node.host<sample::account>();
    if (!sub.empty())
      node.subscribe(annals::subscription_filter::of_category("sample.account"),
                     [sub](const annals::recorded_event& ev) {
                       say("SEEN " + sub + " " + to_string(ev.stream) + " "
                           + std::to_string(ev.rev) + " " + ev.meta.command_id);
                       return caf::error{};
                     });
    if (!consumer.empty()) {
      annals::subscription_options so;
      so.filter = annals::subscription_filter::of_category("sample.account");
      so.consumer = consumer;
      so.start = annals::start_from::checkpoint;
      so.checkpoint_every = 8;
      rt.subscribe(so,
                   [](const annals::recorded_event&) { return caf::error{}; });
    }
  };
  hooks.command = [](const std::string& line, annals::runtime& rt,
                     annals::cluster::node& node) {
    if (line.rfind("fail ", 0) == 0) {
      std::istringstream in{line.substr(5)};
      std::string name;
      double p = 0;
      in >> name >> p;
      say(annals::enable_failpoint(name, p) ? "FAIL ok" : "FAIL refused");
      return true;
    }
    if (line.rfind("pass ", 0) == 0) {
      say(annals::disable_failpoint(line.substr(5)) ? "PASS ok"
                                                    : "PASS refused");
      return true;
    }
    if (line.rfind("stale ", 0) == 0) {
      say(stale_write(rt, node, std::atoi(line.c_str() + 6)));
      return true;
    }
    return false;
  };
  return annals::tools::run_node_program(static_cast<int>(args.size()),
                                         args.data(), hooks);
}
