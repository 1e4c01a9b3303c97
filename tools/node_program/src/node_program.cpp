// annals -- the skeleton of test and benchmark node processes.
#include "annals/tools/node_program.hpp"

#include "annals/render.hpp"

#include <caf/actor_system.hpp>

#include <iostream>
#include <mutex>
#include <sstream>

namespace annals::tools {

namespace {

std::mutex out_mtx;

std::string status_line(cluster::node& node) {
  auto s = node.status();
  if (!s)
    return "STATUS error " + render(s.error());
  std::size_t up = 0;
  for (bool r : s->reachable)
    up += r ? 1 : 0;
  std::ostringstream o;
  o << "STATUS " << s->current.version << ' ' << (s->settled ? 1 : 0) << ' '
    << s->current.members.size() << ' ' << s->active << ' ' << s->inbound << ' '
    << up << ' ' << s->routed << ' ' << s->forwarded << ' ' << s->unavailable
    << ' ' << (s->lease_alive ? 1 : 0);
  return o.str();
}

} // namespace

void say(const std::string& line) {
  std::lock_guard guard{out_mtx};
  std::cout << line << '\n';
  std::cout.flush();
}

int run_node_program(int argc, char** argv, const node_program_hooks& hooks) {
  cluster::config cfg;
  cfg.set("scheduler.max-threads", 2);
  if (hooks.configure)
    hooks.configure(cfg);
  if (auto err = cfg.parse(argc, argv)) {
    std::cerr << "bad options: " << render(err) << std::endl;
    return 2;
  }
  if (auto err = cfg.validate()) {
    std::cerr << "bad options: " << render(err) << std::endl;
    return 2;
  }
  caf::actor_system sys{cfg};
  auto rt = runtime::start(sys, cfg.runtime());
  if (!rt) {
    std::cerr << "runtime: " << render(rt.error()) << std::endl;
    return 3;
  }
  auto nc = cfg.node();
  if (hooks.adjust)
    hooks.adjust(nc);
  auto node = cluster::node::start(sys, **rt, nc);
  if (!node) {
    std::cerr << "node: " << render(node.error()) << std::endl;
    (*rt)->shutdown();
    return 4;
  }
  if (hooks.serve)
    hooks.serve(**rt, **node);
  say("READY " + std::to_string((*node)->port()));
  std::string line;
  while (std::getline(std::cin, line)) {
    if (line == "status") {
      say(status_line(**node));
    } else if (line == "leave") {
      auto err = (*node)->leave();
      say("LEFT " + (err ? render(err) : std::string{"ok"}));
    } else if (line == "replicas") {
      std::istringstream lines{(*node)->replication_status()};
      for (std::string l; std::getline(lines, l);)
        say("REPLICA " + l);
      say("REPLICAS END");
    } else if (line == "stats") {
      auto st = (*rt)->stats();
      say("STATS " + std::to_string(st.commits) + ' '
          + std::to_string(st.appends));
    } else if (hooks.command) {
      hooks.command(line, **rt, **node);
    }
  }
  (*node)->stop();
  (*rt)->shutdown();
  say("STOPPED");
  return 0;
}

} // namespace annals::tools
