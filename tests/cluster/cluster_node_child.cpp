// annals -- a cluster node for the multi-process cluster tests.
//
// Usage: cluster_node_child --annals.data-dir=D --cluster.name=N
//                           --cluster.port=P [--cluster.seeds=host:port]
//                           [--cluster.tls --openssl.certificate=C
//                            --openssl.key=K --openssl.cafile=CA]
// Hosts `sample::account` and prints "READY <port>" once it has joined.
// Then reads commands on stdin, one per line:
//   status  -> "STATUS <version> <settled 0|1> <members> <active> <inbound>
//               <outbound> <reachable members>"
//   leave   -> "LEFT ok" or "LEFT <error>"
//   handoff -> "HANDOFF <pause ms> ..." (one per hand-off into this node)
// and stops cleanly on EOF.
#include "annals/cluster/node.hpp"
#include "annals/render.hpp"

#include "sample_account.hpp"

#include <caf/actor_system.hpp>

#include <iostream>
#include <string>

int main(int argc, char** argv) {
  annals::cluster::config cfg;
  cfg.set("scheduler.max-threads", 2);
  cfg.add_message_types<caf::id_block::sample>();
  if (auto err = cfg.parse(argc, argv)) {
    std::cerr << "bad options: " << annals::render(err) << std::endl;
    return 2;
  }
  if (auto err = cfg.validate()) {
    std::cerr << "bad options: " << annals::render(err) << std::endl;
    return 2;
  }
  caf::actor_system sys{cfg};
  auto rt = annals::runtime::start(sys, cfg.runtime());
  if (!rt) {
    std::cerr << "runtime: " << annals::render(rt.error()) << std::endl;
    return 3;
  }
  auto node = annals::cluster::node::start(sys, **rt, cfg.node());
  if (!node) {
    std::cerr << "node: " << annals::render(node.error()) << std::endl;
    (*rt)->shutdown();
    return 4;
  }
  (*node)->host<sample::account>();
  std::cout << "READY " << (*node)->port() << std::endl;
  std::string line;
  while (std::getline(std::cin, line)) {
    if (line == "status") {
      auto s = (*node)->status();
      if (!s) {
        std::cout << "STATUS error " << annals::render(s.error()) << std::endl;
        continue;
      }
      std::size_t up = 0;
      for (bool r : s->reachable)
        up += r ? 1 : 0;
      std::cout << "STATUS " << s->current.version << ' '
                << (s->settled ? 1 : 0) << ' ' << s->current.members.size()
                << ' ' << s->active << ' ' << s->inbound << ' ' << s->outbound
                << ' ' << up << std::endl;
    } else if (line == "leave") {
      auto err = (*node)->leave();
      std::cout << "LEFT " << (err ? annals::render(err) : "ok") << std::endl;
    } else if (line == "handoff") {
      auto s = (*node)->status();
      std::cout << "HANDOFF";
      if (s)
        for (auto ms : s->handoff_ms)
          std::cout << ' ' << ms;
      std::cout << std::endl;
    }
  }
  (*node)->stop();
  (*rt)->shutdown();
  return 0;
}
