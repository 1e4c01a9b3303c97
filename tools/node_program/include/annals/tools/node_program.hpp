// annals -- the skeleton shared by the node processes of tests and
// benchmarks: a cluster node driven line by line through stdin.
//
// `run_node_program` parses the options into an `annals::cluster::config`,
// starts the actor system, the runtime and the node, lets the program host
// its aggregates, prints "READY <port>", then answers stdin lines until EOF:
//   status   -> "STATUS <version> <settled 0|1> <members> <active>
//               <inbound> <reachable members> <routed> <forwarded>
//               <unavailable> <lease alive 0|1>"  (or "STATUS error
//               <message>")
//   leave    -> "LEFT ok" or "LEFT <error>"
//   replicas -> one "REPLICA <line>" per line of the node's
//               `replication_status()`, then "REPLICAS END"
//   stats    -> "STATS <commits> <appends>" (the runtime's group commits)
// and hands any other line to the program's `command` hook. On EOF it stops
// the node and the runtime cleanly and prints "STOPPED".
//
// Exit codes: 0 after EOF; 2 bad options; 3 the runtime did not start; 4
// the node did not start (the message is on stderr).
//
// Threads: `say` may be called from any thread (subscription callbacks):
// whole lines, flushed, never interleaved.
#pragma once

#include "annals/cluster/node.hpp"
#include "annals/runtime.hpp"

#include <functional>
#include <string>

namespace annals::tools {

/// Writes `line` and a newline to stdout under a lock, and flushes.
void say(const std::string& line);

struct node_program_hooks {
  /// Adjusts the config before parsing (message types, defaults).
  std::function<void(cluster::config&)> configure;
  /// Adjusts the node's settings after parsing.
  std::function<void(cluster::node_config&)> adjust;
  /// Hosts the aggregates and starts any subscriptions (before READY).
  std::function<void(runtime&, cluster::node&)> serve;
  /// Answers a stdin line the skeleton does not know; false = unknown
  /// (ignored).
  std::function<bool(const std::string&, runtime&, cluster::node&)> command;
};

/// Runs a node process as described above; returns its exit code.
int run_node_program(int argc, char** argv, const node_program_hooks& hooks);

} // namespace annals::tools
