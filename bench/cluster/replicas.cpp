// annals -- event-sourced aggregates on the C++ Actor Framework.
#include "cluster/replicas.hpp"

#include "annals/persistence/stream.hpp"

#include "cluster/cleanup.hpp"
#include "cluster/workload.hpp"
#include "cluster_bench_account.hpp"

#include <cstdio>
#include <thread>

namespace cluster_bench {

const replica_row* row_of(const std::vector<replica_row>& rows, uint32_t p) {
  if (p < rows.size() && rows[p].partition == p) {
    return &rows[p];
  }
  for (const auto& r : rows) {
    if (r.partition == p) {
      return &r;
    }
  }
  return nullptr;
}

bool in_step(const std::vector<node_process*>& nodes, const replica_table& t) {
  for (const auto& rows : t) {
    if (rows.size() != partitions) {
      return false;
    }
  }
  for (uint32_t p = 0; p < partitions; ++p) {
    const replica_row* lead = nullptr;
    std::string lead_name;
    for (std::size_t i = 0; i < nodes.size(); ++i) {
      const auto* r = row_of(t[i], p);
      if (r == nullptr || !r->voter) {
        return false;
      }
      if (r->phase == "leader") {
        if (lead != nullptr) {
          return false;
        }
        lead = r;
        lead_name = nodes[i]->name();
      }
    }
    if (lead == nullptr || lead->hw != lead->end) {
      return false;
    }
    for (std::size_t i = 0; i < nodes.size(); ++i) {
      const auto* r = row_of(t[i], p);
      if (r != lead
          && (r->phase != "follower" || r->leader != lead_name
              || r->end != lead->end)) {
        return false;
      }
    }
  }
  return true;
}

replica_table await_in_step(const std::vector<node_process*>& nodes,
                            std::chrono::seconds timeout) {
  auto deadline = clock_type::now() + timeout;
  for (;;) {
    replica_table t;
    for (auto* n : nodes) {
      auto rows = n->replicas();
      t.push_back(rows ? std::move(*rows) : std::vector<replica_row>{});
    }
    if (in_step(nodes, t)) {
      return t;
    }
    if (clock_type::now() > deadline) {
      die("the replicas did not get in step:\n" + nodes.front()->log_tail());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds{20});
  }
}

std::vector<std::size_t> leaders_of(const replica_table& t) {
  std::vector<std::size_t> out(partitions, 0);
  for (std::size_t i = 0; i < t.size(); ++i) {
    for (const auto& r : t[i]) {
      if (r.phase == "leader" && r.partition < partitions) {
        out[r.partition] = i;
      }
    }
  }
  return out;
}

std::vector<std::string> one_id_per_partition() {
  std::vector<std::string> out(partitions);
  std::size_t found = 0;
  for (std::size_t i = 0; found < partitions; ++i) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "probe%05zu", i);
    auto p = annals::partition_of(
      annals::stream_id{std::string{cluster_bench::account::category}, buf},
      partitions);
    if (out[p].empty()) {
      out[p] = buf;
      ++found;
    }
  }
  return out;
}

} // namespace cluster_bench
