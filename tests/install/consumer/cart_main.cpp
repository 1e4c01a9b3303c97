// cart-demo -- runs the cart in-process on the annals runtime over an LMDB
// journal in DIR, starts it again (a new actor system, as a new process
// would) as a cluster node alone, and checks that the answers hold.
//
// Usage: cart-demo DIR   (exit status 0 only if every check held)
#include "annals/cluster/node.hpp"
#include "annals/render.hpp"
#include "annals/runtime.hpp"
#include "annals/runtime_config.hpp"

#include "shop/cart.hpp"

#include <caf/actor_system.hpp>

#include <cstdio>
#include <string>

namespace {

int failures = 0;

void check(bool ok, const std::string& what) {
  std::printf("%s %s\n", ok ? "ok  " : "FAIL", what.c_str());
  if (!ok)
    ++failures;
}

} // namespace

/// One actor system with a runtime on `dir`, each its own (as a new process
/// would have), for `f(sys, runtime)`. False if the runtime did not start.
template <class Config, class F>
bool with_runtime(const std::string& dir, F f) {
  Config cfg;
  cfg.template add_message_types<caf::id_block::shop>();
  cfg.set("scheduler.max-threads", 2);
  caf::actor_system sys{cfg};
  annals::runtime_config rc;
  rc.data_dir = dir;
  auto rt = annals::runtime::start(sys, rc);
  if (!rt) {
    std::fprintf(stderr, "cannot start: %s\n",
                 annals::render(rt.error()).c_str());
    return false;
  }
  f(sys, **rt);
  return true;
}

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: cart-demo DIR\n");
    return 2;
  }
  auto first = with_runtime<annals::config>(
    argv[1], [](caf::actor_system&, annals::runtime& rt) {
      auto carts = rt.host<shop::cart>();
      annals::command_options opts;
      opts.command_id = "add-apples-1";
      auto a = carts.ask("c1", shop::add_item{"apple", 2}, opts);
      check(a && a->revision == 1, "add 2 apples: revision 1");
      auto again = carts.ask("c1", shop::add_item{"apple", 2}, opts);
      check(again && again->duplicate,
            "the retried command is not applied twice");
      auto b = carts.ask("c1", shop::add_item{"pear", 3});
      check(b && b->revision == 2, "add 3 pears: revision 2");
      auto done = carts.ask("c1", shop::check_out{});
      check(done && done->revision == 3, "check out: revision 3");
      auto late = carts.ask("c1", shop::add_item{"fig", 1});
      check(!late
              && late.error() == caf::make_error(shop::cart_errc::checked_out),
            "adding after check-out is rejected");
    });
  // Started again on the same directory, as a cluster node alone (no etcd):
  // the cart comes back from the journal and answers through the node.
  auto second = with_runtime<annals::cluster::config>(
    argv[1], [](caf::actor_system& sys, annals::runtime& rt) {
      annals::cluster::node_config nc;
      nc.name = "solo";
      auto node = annals::cluster::node::start(sys, rt, nc);
      if (!node) {
        check(false, "node start: " + annals::render(node.error()));
        return;
      }
      auto pieces = (*node)->host<shop::cart>().ask("c1", shop::count_items{});
      check(pieces && *pieces == 5,
            "after a restart the cart holds 5 pieces (asked through a node)");
      (*node)->stop();
    });
  return first && second && failures == 0 ? 0 : 1;
}
