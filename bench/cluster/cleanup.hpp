// annals -- event-sourced aggregates on the C++ Actor Framework.
// cluster_bench: what the bench must undo if it stops early -- the child
// processes it started and the directories it created -- and `die`, which
// undoes them and ends the process.
//
// Threads: the registries are plain vectors, touched only by the bench's
// main thread (node processes, etcd, temporary directories are created
// and destroyed there).
#pragma once

#include "bench_support.hpp"

#include <sys/types.h>

#include <string>
#include <vector>

namespace cluster_bench {

/// The child processes still running (node processes, etcd).
std::vector<pid_t>& live_children();

/// The temporary directories still present.
std::vector<std::string>& live_dirs();

/// Prints "FAILED: <why>", SIGKILLs every live child, removes every live
/// directory and exits with code 3 at once (the actor systems would wait
/// for stuck actors forever).
[[noreturn]] void die(const std::string& why);

/// A temp_dir that `die` removes too.
class bench_dir {
public:
  bench_dir();
  ~bench_dir();
  bench_dir(const bench_dir&) = delete;
  bench_dir& operator=(const bench_dir&) = delete;

  const std::string& path() const noexcept {
    return dir_.path();
  }

private:
  annals::bench_support::temp_dir dir_;
};

} // namespace cluster_bench
