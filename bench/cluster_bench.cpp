// annals -- event-sourced aggregates on the C++ Actor Framework.
//
// cluster_bench: the cluster module under load, with real node processes
// (cluster_bench_node) on 127.0.0.1, fsync on, data in a temporary directory
// the bench removes. Each figure is printed beside a baseline measured in the
// same run, as a ratio; throughput figures are medians over --reps rounds
// (the machine is shared and noisy).
//
//   (1) throughput: a 3-node cluster over etcd (a one-member etcd the
//       bench starts, `--cluster.etcd`) with replication factor 1 (the
//       controller's map places each partition on one node: routing, not
//       replication, is measured); the bench process is a client (its own
//       actor system, the nodes' heartbeat settings) connected to ONE node
//       (n1). 4 event-based drivers each keep 64 deposits in flight (256 in
//       total) to 10^4 aggregates drawn uniformly at random, all entering at
//       n1, so about 2/3 of the commands are forwarded to another owner. All
//       aggregates are activated (one command each, untimed) first.
//       Baseline: the same workload against an in-process runtime (same
//       partitions, fsync, same disk, scheduler.max-threads=2 like the
//       nodes), interleaved with the cluster rounds.
//   (2) the view mode's hand-off pause: gone with the view mode (issue
//       14: etcd and the partition map are the only control plane); a
//       partition's move under load is (10)'s. `--only=2` says so.
//   (3) failure detection: an idle 3-node RF 3 cluster over etcd; per
//       round SIGKILL the node (not the etcd controller) leading most
//       partitions and poll the two others (status over their stdin, every
//       --poll-ms) until both count it unreachable; restart it and wait
//       until everyone is reachable and in step; then SIGSTOP such a node
//       (a hung node, found only by heartbeats -- 250 ms interval, 2 s
//       timeout -- and its lease's expiry), poll again, and from the stop
//       on send a deposit to one aggregate of each partition it led
//       (through the controller, retried every 5 ms after an error) until
//       each is acknowledged; SIGKILL it, restart. Baselines: the status
//       poll round trip (the resolution), the configured heartbeat timeout
//       and the lease TTL. (kill -> first ack is (7)'s.)
//   (4) replication: (1)'s cluster workload with replication factor 3
//       (every command on a majority of 3 replicas before its reply) and,
//       interleaved, with factor 1 (as (1): the same control plane, no
//       followers): RF 3 / RF 1 rates and latencies.
//   (5) hot aggregate: (4) with every command to ONE aggregate (256 in
//       flight to it, pipelined), RF 3 against RF 1, interleaved.
//   (6) replication lag: (1)'s workload at RF 3 while the bench samples
//       every node's replicas (`replicas` on its stdin: per partition its
//       phase, high watermark and journal end) back to back. Lag of one
//       follower replica = how far its journal end (durable: followers
//       commit before they acknowledge) is behind its leader's journal end
//       (durable on the leader), in events, and as time: how long ago the
//       leader first held the event the follower is missing. The nodes are
//       sampled one after another, so each figure is bracketed by pairing
//       the follower's sample with the leader's sample just before and
//       just after it. Baseline: the leader's own window, end - high
//       watermark (durable there, not yet on a majority), and the clients'
//       p99 latency in the same run.
//   (7) failover: an idle 3-node RF 3 cluster; per round SIGKILL a node
//       that leads partitions (not the etcd controller, except every third
//       round when the controller leads any), and from the kill on send a
//       deposit to one aggregate of each partition it led (through a
//       survivor; retried every 5 ms after an error) until each is
//       acknowledged; restart the node and wait until every replica is back
//       in step. Per partition: kill -> first acknowledgement. Baseline:
//       the lease TTL (2 s: the failover time if only the lease's expiry
//       revealed the death) and the probe's round trip before the kill.
//   (8) catch-up after disk loss: (1)'s workload at RF 3 fills the journals
//       (activation, then --seconds of load), then a follower node (not the
//       controller) is stopped cleanly, its data directory removed, and
//       restarted; the bench polls its replicas until every partition holds
//       the leaders' end, then until every replica is a voter again.
//       Events/s = the events it copied / the time from its READY line.
//       Baseline: the rate the cluster committed the same events (the load
//       phase), and (4)'s RF 1 rate when (4) ran too.
//   (9) etcd writes per failover: the partition map key's etcd `version`
//       (JSON gateway /v3/kv/range) before a SIGKILL of a partition leader
//       and once the survivors serve every partition and 1 s passed
//       without a change; then again for the restart; once for a
//       non-controller leader, once for the controller (a new one must be
//       elected first: a survivor that lost its connection revokes its
//       lease). Goal: 1 write.
//   (10) replica moves: (4)'s 256 deposits in flight, as one closed loop
//       per partition (4 each, so a stalled partition does not starve the
//       others; a failed deposit is resent with its command id, as
//       outcome_unknown asks) entering at n1 of 3 replicated nodes (RF 3);
//       then n4 joins (the ring moves partitions to it: learner, 4th voter
//       at epoch+1, then the dropped voter is removed at epoch+1, the
//       leadership moving if it led) and the map converges (etcd's map
//       key: every partition settled, no learners, its voters the ring's
//       target); then n2 or n3 (not the controller) leaves and the map
//       converges again. Per partition whose voters changed: the longest
//       gap between acknowledgements of its deposits from the change's
//       start until 0.5 s after the map converged. Baseline: the same gap
//       for the partitions that did not move, in the same window. Also:
//       the joiner's READY -> map converged, `leave` -> map converged.
//
// The sections live in bench/cluster/section_*.cpp, the machinery they
// share (node processes, etcd, load drivers, statistics) beside them.
//
// Usage: cluster_bench [--quick] [--seconds=N] [--reps=N]
//                      [--only=123456789,10] [--kills=N] [--poll-ms=N]
//                      [--verbose]

#include "bench_support.hpp"
#include "cluster/cleanup.hpp"
#include "cluster/options.hpp"
#include "cluster/sections.hpp"
#include "cluster/workload.hpp"

#include <cstdio>
#include <filesystem>
#include <thread>

using namespace cluster_bench;
using namespace annals::bench_support;

int main(int argc, char** argv) {
  auto opts = parse_options(argc, argv);
  if (!opts.cfg) {
    return opts.exit_code;
  }
  const auto& cfg = *opts.cfg;
  {
    bench_dir probe;
    std::printf("cluster_bench: node processes on 127.0.0.1, fsync on, "
                "%u partitions, %s in %s (flush probe %s), %u cores\n\n",
                partitions, filesystem_of(probe.path()).c_str(),
                std::filesystem::temp_directory_path().c_str(),
                fmt_ms(probe_fsync_ms(probe.path())).c_str(),
                std::thread::hardware_concurrency());
  }
  std::fflush(stdout);
  summaries s;
  auto run = [&](int section, auto&& fn) {
    if (cfg.has(section)) {
      fn();
      std::fflush(stdout);
    }
  };
  run(1, [&] { s.tp = section_throughput(cfg); });
  run(2, [] {
    std::printf("(2) hand-off pause: gone with the view mode; the pause of a "
                "partition's move under load is (10)'s\n\n");
  });
  run(3, [&] { s.fd = section_failure(cfg); });
  run(4, [&] { s.rs = section_replication(cfg); });
  run(5, [&] { s.hot = section_hot(cfg); });
  run(6, [&] { s.lag = section_lag(cfg); });
  run(7, [&] { s.fo = section_failover(cfg); });
  run(8, [&] { s.cu = section_catchup(cfg, s.rs.ran ? s.rs.rf1_rate : 0); });
  run(9, [&] { s.ws = section_writes(cfg); });
  run(10, [&] { s.mv = section_moves(cfg); });
  print_targets(s);
  return 0;
}
