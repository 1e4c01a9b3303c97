// annals -- a cluster node for the history-checker tests (built twice: as
// checker_node_child, and with ANNALS_PLANTED_BUGS as
// checker_node_child_planted).
//
// Usage: checker_node_child --annals.data-dir=D --cluster.name=N
//          --cluster.port=P [--cluster.seeds=host:port]
//          [--sub=NAME] [--plant=BUG]
// Hosts `sample::account` and prints "READY <port>" once it has joined.
// --sub=NAME subscribes to every sample.account event of the cluster (from
//   the beginning) and prints "SEEN NAME <category/id> <revision> <command>"
//   for each.
// --plant=BUG sets ANNALS_PLANT_BUG=BUG (only a planted build reacts).
// --chunk-events=N caps hand-off chunks at N events (several per hand-off).
// --join-timeout=S gives up joining after S seconds (default 30).
// --verbose logs at info level (hand-offs, views) on stderr.
// --consumer=NAME adds a durable local consumer of sample.account that
//   checkpoints every 8 events (and prints nothing).
// Then reads commands on stdin, one per line: those of
// annals/tools/node_program.hpp (status, leave, handoff, stats), and
//   stale N  -> a stale writer: among acct-0 .. acct-(N-1), the first stream
//               in this node's journal whose partition this node no longer
//               owns gets one more event appended directly to the journal
//               with the epoch of the stream's last event (what an owner
//               that missed its loss of ownership would write).
//               "STALE ok <id> <revision> <epoch>", "STALE refused <id>
//               <error>" or "STALE none".
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
  auto st = node.status();
  if (!st)
    return "STALE refused - " + annals::render(st.error());
  auto& store = rt.store();
  for (int i = 0; i < n; ++i) {
    auto id = "acct-" + std::to_string(i);
    annals::stream_id sid{"sample.account", id};
    auto p = annals::partition_of(sid, store.partition_count());
    if (p < st->owners.size() && st->owners[p] == node.name())
      continue;
    auto last = store.last_revision(sid);
    if (!last || *last == 0)
      continue;
    auto evs = store.read_stream(sid, *last, 1);
    if (!evs || evs->empty())
      continue;
    const auto& ev = evs->front();
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
  return "STALE none";
}

} // namespace

int main(int argc, char** argv) {
  // Our own options first; CAF gets the rest.
  std::vector<char*> args;
  std::string sub;
  std::string consumer;
  uint32_t chunk_events = 0;
  int join_timeout = 0;
  for (int i = 0; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--sub=", 0) == 0)
      sub = a.substr(6);
    else if (a.rfind("--consumer=", 0) == 0)
      consumer = a.substr(11);
    else if (a.rfind("--chunk-events=", 0) == 0)
      chunk_events = static_cast<uint32_t>(std::stoul(a.substr(15)));
    else if (a == "--verbose")
      annals::set_log_level(annals::log_level::info);
    else if (a.rfind("--join-timeout=", 0) == 0)
      join_timeout = std::stoi(a.substr(15));
    else if (a.rfind("--plant=", 0) == 0)
      ::setenv("ANNALS_PLANT_BUG", a.substr(8).c_str(), 1);
    else
      args.push_back(argv[i]);
  }
  annals::tools::node_program_hooks hooks;
  hooks.configure = [](annals::cluster::config& cfg) {
    cfg.add_message_types<caf::id_block::sample>();
  };
  hooks.adjust = [&](annals::cluster::node_config& nc) {
    static_cast<void>(nc);
    static_cast<void>(chunk_events);
    static_cast<void>(join_timeout);
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
