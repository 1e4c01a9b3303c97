// annals -- event-sourced aggregates on the C++ Actor Framework.
//
// scaling_bench: how the runtime's cost grows (issue 13, "How cost grows").
// Three series, each written as CSV (one file per series, header row) into
// --out=DIR (default: build/bench/results in the source tree) and drawn as
// PNG by bench/plots/scaling.gp when gnuplot is installed (Debian package
// gnuplot-nox; not required: without it the plots are skipped, and said so).
//
//   (1) aggregates: the runtime_bench (b) workload -- 256 commands in flight
//       (4 event-based drivers x 64 outstanding requests), deposits to
//       aggregate ids drawn uniformly at random, durability::fsync -- on
//       10^2, 10^3, 10^4, 10^5 and 10^6 aggregates. Every aggregate's stream
//       holds one event before the run, written directly through
//       journal::commit (unsafe_no_sync, 10^4 appends per commit, data.mdb
//       fsynced afterwards, untimed); the runtime then opens the journal
//       with fsync and min(N, max_live) aggregates, drawn at random, are
//       activated with one get_balance each (untimed). The runtime keeps
//       its default max_live of 100k live aggregates per type, so at 10^6
//       the timed part starts with 100k live (a uniform random subset: the
//       steady state of this workload) and ~90% of the commands find their
//       aggregate passivated: they include its recovery from the journal
//       and the LRU passivation of another one. That cost is part of what
//       is measured (recoveries per command are printed and written).
//   (2) journal size: the same workload on 10^4 aggregates with 10^5, 10^6
//       and 10^7 events already in the journal: P/10 streams of 10 events,
//       written one event per append in 10 rounds over all streams, each
//       round in random order (10^4 appends per commit, unsafe_no_sync,
//       fsynced afterwards); the 10^4 aggregates of the run are every
//       (P/10^5)-th of these streams (each recovers 10 events when
//       activated, untimed). Stated per size, read with raw LMDB (read-only)
//       after the prefill closed the journal: the data file's size and used
//       part, and the B-tree depth and pages of `log`, `stream_index` and
//       `partition_index`. Each repetition runs on a copy of the prefilled
//       data.mdb (copied and fsynced, untimed), opened with fsync; the open
//       (which rebuilds the in-memory index tail from the log) is timed.
//   (3) recovery time vs events since the last snapshot: N = 10^2, 10^3,
//       10^4, 10^5 events per stream, no snapshot, written directly through
//       journal::commit (one event per append, the streams of one N
//       interleaved). Each stream's first command (get_balance) in a fresh
//       runtime, sent from the main thread through a scoped_actor (no other
//       actor in the loop), timed from send to reply and checked (balance =
//       N). Warm page cache: the data was just written, and each runtime
//       first answers one untimed query of another aggregate. Medians (and
//       min..max) over S streams x W fresh runtimes. Beside it, on the main
//       thread without actors: the replay alone (scan + decode + apply) in a
//       freshly opened journal, and the journal scan alone, hot.
//
// Baselines and regime: beside every runtime run of (1) and (2), raw LMDB
// in the same process -- one txn + commit (default sync flags) per batch of
// B 120-byte values with sequential u64 keys (MDB_APPEND), B = the average
// batch the runtime achieved in that run -- as a ratio, like runtime_bench.
// Each run gets a fresh directory and actor system (the runtime's default
// configuration: annals::config, whatever scheduler it sets); figures are
// medians of --reps repetitions; the device's flush latency (4 KiB pwrite +
// fdatasync) is probed before and after each run and printed per series; a
// repetition whose probes differ by more than 3x (some virtual disks
// alternate between fast and throttled flushes) is measured again once.
// Every run checks its replies (activation queries return the prefilled
// balance) and that the journal holds the prefill plus one event per
// acknowledged deposit.
//
// What bounds each point, as the summary states it from the counters: more
// than 30% of the commands recover an aggregate: "recoveries"; else the
// journal writer inside journal::commit more than 75% of the time: "the
// device" (a commit takes at most 1.5x raw LMDB's for the same batch) or
// "the journal" (with the bytes written per commit); else the process using
// more than 85% of the cores: "CPU"; otherwise "round trip between commits"
// (the writer waits for the next batch: replies travel to the drivers and
// their next commands back). For (3): "the replay" if the replay alone
// takes more than half of the recovery time, "the fixed cost of activating
// an aggregate" if the recovery takes less than twice that of aggregates
// with 1 event (measured beside).
//
// Output (--out=DIR): scaling_aggregates.csv, scaling_journal_size.csv and
// scaling_recovery.csv, one row per point, the columns named in the header
// row (rates per second, times in ms, sizes in MiB, medians); with gnuplot,
// scaling_aggregates.png, scaling_journal_size.png and scaling_recovery.png
// (640x400, log x axes, log y for rates, labelled quick or full run, the
// median fsync probe). Redraw them with `gnuplot -c bench/plots/scaling.gp
// DIR [LABEL]`.
//
// --quick: 10^2, 10^4 and 10^5 aggregates (instead of up to 10^6: no LRU
// passivation then); 10^5 and 10^6 events (instead of up to 10^7); 3
// recovery streams x 2 runtimes; one repetition of 1 s, raw baselines of
// 0.3 s, no re-measuring after a regime change; labelled "quick" in the
// output and the plots. About half a minute on an idle 2-core machine. The
// full mode takes several minutes, most of it untimed: the 10^7-event
// prefill (~100k events/s without fsync; the journal's in-memory index tail
// reaches its cap), copying it per repetition, opening it (the open
// rebuilds the tail from the log), and stopping 10^5 live aggregates.
//
// Usage: scaling_bench [--quick] [--out=DIR] [--seconds=N] [--reps=N]
//                      [--only=123] [--aggregates=LIST] [--events=LIST]
//                      [--recovery=LIST] [--no-plot] [--verbose]

#include "annals/codec.hpp"
#include "annals/persistence/journal.hpp"
#include "annals/render.hpp"
#include "annals/runtime.hpp"
#include "annals/runtime_config.hpp"

#include "bench_account.hpp"
#include "bench_scheduler.hpp"
#include "bench_support.hpp"

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scheduler/abstract_coordinator.hpp>
#include <caf/scoped_actor.hpp>
#include <lmdb.h>

#include <fcntl.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <exception>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <memory>
#include <numeric>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <typeinfo>
#include <utility>
#include <vector>

extern char** environ;

namespace {

using namespace annals::bench_support;

using clock_type = std::chrono::steady_clock;
using event_variant = annals::tl_variant_t<bench::account::events>;

constexpr std::size_t drivers = 4;
constexpr std::size_t window = 64; ///< per driver: 256 in flight
constexpr std::size_t in_flight = drivers * window;
constexpr std::size_t measured_aggregates = 10'000; ///< series (2)
constexpr std::size_t events_per_stream = 10;       ///< series (2)
constexpr std::size_t prefill_per_commit = 10'000;  ///< appends
constexpr std::size_t raw_value_bytes = 120;
constexpr uint64_t raw_map_bytes = uint64_t{4} << 30;
const std::string memo = "memo-payload"; // event payload: 21 bytes

#ifndef ANNALS_SOURCE_DIR
#define ANNALS_SOURCE_DIR "."
#endif
#ifndef ANNALS_SCALING_PLOT_SCRIPT
#define ANNALS_SCALING_PLOT_SCRIPT "bench/plots/scaling.gp"
#endif

// -- settings -----------------------------------------------------------------

struct settings {
  bool quick = false;
  double seconds = 2.5; ///< timed part of each runtime run
  double raw_seconds = 1.0;
  int reps = 3;
  std::vector<std::size_t> aggregate_sizes{100, 1000, 10'000, 100'000,
                                           1'000'000};
  std::vector<std::size_t> journal_sizes{100'000, 1'000'000, 10'000'000};
  std::vector<std::size_t> recovery_sizes{100, 1000, 10'000, 100'000};
  int recovery_streams = 5;
  int recovery_runtimes = 3;
  std::string series = "123";
  std::string out_dir = std::string{ANNALS_SOURCE_DIR} + "/build/bench/results";
  bool plot = true;
  bool verbose = false;
};

void usage(std::FILE* out) {
  std::fprintf(
    out,
    "usage: scaling_bench [--quick] [--out=DIR] [--seconds=N] [--reps=N]\n"
    "                     [--only=123] [--aggregates=LIST] [--events=LIST]\n"
    "                     [--recovery=LIST] [--no-plot] [--verbose]\n"
    "  --quick      smaller sizes (10^5 aggregates, 10^6 events), 1 rep\n"
    "  --out=DIR    where the CSV and PNG files go (default "
    "build/bench/results\n"
    "               of the source tree)\n"
    "  --seconds=N  timed part of each runtime run (default 2.5)\n"
    "  --reps=N     repetitions per point of (1) and (2) (default 3)\n"
    "  --only=LIST  run only these series: 1 aggregates, 2 journal size, 3 "
    "recovery\n"
    "  --aggregates=LIST, --events=LIST, --recovery=LIST\n"
    "               the sizes of series 1, 2, 3 (e.g. 1e2,1e4,1e6; after "
    "--quick)\n"
    "  --no-plot    write the CSV files only\n"
    "  --verbose    print every run\n");
}

// -- small helpers ------------------------------------------------------------

/// Parses "100,1e4,10000" (integers, or 1eN) into sizes; empty on error.
std::vector<std::size_t> parse_sizes(std::string_view text) {
  std::vector<std::size_t> out;
  while (!text.empty()) {
    auto comma = text.find(',');
    std::string item{text.substr(0, comma)};
    text = comma == std::string_view::npos ? std::string_view{}
                                           : text.substr(comma + 1);
    char* end = nullptr;
    auto x = std::strtod(item.c_str(), &end);
    if (item.empty() || *end != '\0' || !(x >= 1) || x > 1e9) {
      return {};
    }
    out.push_back(static_cast<std::size_t>(std::llround(x)));
  }
  return out;
}

double seconds_between(clock_type::time_point a, clock_type::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

double ms_since(clock_type::time_point t0) {
  return std::chrono::duration<double, std::milli>(clock_type::now() - t0)
    .count();
}

std::string fmt_bytes(double b) {
  char buf[32];
  if (b >= 10.0 * (1 << 30)) {
    std::snprintf(buf, sizeof buf, "%.1f GiB", b / (1 << 30));
  } else if (b >= 10.0 * (1 << 20)) {
    std::snprintf(buf, sizeof buf, "%.0f MiB", b / (1 << 20));
  } else if (b >= 10.0 * 1024) {
    std::snprintf(buf, sizeof buf, "%.0f KiB", b / 1024);
  } else {
    std::snprintf(buf, sizeof buf, "%.0f B", b);
  }
  return buf;
}

/// "10^4" for powers of ten, the number otherwise.
std::string fmt_count(std::size_t n) {
  char buf[32];
  std::size_t p = 1;
  int e = 0;
  while (p < n) {
    p *= 10;
    ++e;
  }
  if (p == n && e >= 2) {
    std::snprintf(buf, sizeof buf, "10^%d", e);
  } else {
    std::snprintf(buf, sizeof buf, "%zu", n);
  }
  return buf;
}

std::string make_id(const char* prefix, std::size_t i) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%s%07zu", prefix, i);
  return buf;
}

std::vector<std::string> make_ids(const char* prefix, std::size_t n) {
  std::vector<std::string> ids;
  ids.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    ids.push_back(make_id(prefix, i));
  }
  return ids;
}

double process_cpu_seconds() {
  struct rusage ru;
  ::getrusage(RUSAGE_SELF, &ru);
  auto tv = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
  };
  return tv(ru.ru_utime) + tv(ru.ru_stime);
}

/// Bytes this process passed to write-like system calls (/proc/self/io).
double bytes_written() {
  std::ifstream in{"/proc/self/io"};
  std::string key;
  uint64_t value = 0;
  while (in >> key >> value) {
    if (key == "wchar:") {
      return static_cast<double>(value);
    }
  }
  return 0;
}

/// Flushes `file` to the device (best effort), so that its dirty pages are
/// not written back during a later measurement.
void sync_file(const std::string& file) {
  int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    ::fdatasync(fd);
    ::close(fd);
  }
}

/// True if the flush probes of one measurement differ by more than 3x: the
/// device changed its regime (some virtual disks alternate between fast and
/// throttled flushes), so the runs being compared saw different devices.
bool regime_changed(const std::vector<double>& probes) {
  if (probes.empty()) {
    return false;
  }
  auto [lo, hi] = std::minmax_element(probes.begin(), probes.end());
  return *lo > 0 && *hi / *lo > 3;
}

std::string fsync_range(const std::vector<double>& probes) {
  if (probes.empty()) {
    return "n/a";
  }
  auto [lo, hi] = std::minmax_element(probes.begin(), probes.end());
  return fmt_ms(median(probes)) + " (" + fmt_ms(*lo) + ".." + fmt_ms(*hi) + ")";
}

annals::event_data deposit_event() {
  event_variant ev = bench::deposited{1, memo};
  annals::event_data data;
  data.type = std::string{annals::event_type_name(ev)};
  data.schema_version = annals::event_schema_version(ev);
  data.payload = annals::encode_event(ev);
  return data;
}

std::unique_ptr<annals::journal> open_journal(const std::string& dir,
                                              annals::durability sync) {
  annals::journal_options opts;
  opts.sync = sync;
  auto j = annals::open_lmdb_journal(dir, opts);
  if (!j) {
    throw std::runtime_error("open_lmdb_journal " + dir + ": "
                             + annals::describe(j.error()));
  }
  return std::move(*j);
}

// -- writing streams directly -------------------------------------------------

/// Appends `rounds` deposits to each of `ids` through journal::commit, one
/// event per append (as the runtime writes them), `prefill_per_commit`
/// appends per commit. Each round gives every stream one event; with `rng`,
/// each round visits the streams in a fresh random order, otherwise in
/// order (interleaving the streams round-robin).
void append_rounds(annals::journal& j, const std::vector<std::string>& ids,
                   std::size_t rounds, std::mt19937_64* rng) {
  auto data = deposit_event();
  std::vector<std::size_t> order(ids.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  // The batch's appends are reused from commit to commit (assigning to them
  // keeps their memory), so that the prefill measures the journal, not the
  // allocator.
  annals::write_batch batch;
  batch.appends.resize(prefill_per_commit);
  std::size_t filled = 0;
  auto flush = [&] {
    batch.appends.resize(filled);
    auto res = j.commit(batch);
    if (!res) {
      throw std::runtime_error("journal commit: "
                               + annals::describe(res.error()));
    }
    for (const auto& a : res->appends) {
      if (!a) {
        throw std::runtime_error("journal append: "
                                 + annals::describe(a.error()));
      }
    }
    filled = 0;
  };
  for (std::size_t r = 0; r < rounds; ++r) {
    if (rng != nullptr) {
      std::shuffle(order.begin(), order.end(), *rng);
    }
    for (auto i : order) {
      auto& req = batch.appends[filled++];
      req.stream.category = bench::account::category;
      req.stream.id = ids[i];
      req.events.resize(1);
      req.events[0].type = data.type;
      req.events[0].schema_version = data.schema_version;
      req.events[0].payload = data.payload;
      if (filled == prefill_per_commit) {
        flush();
      }
    }
  }
  if (filled > 0) {
    flush();
  }
}

/// One B-tree of the journal, as mdb_stat reports it.
struct tree_stat {
  unsigned depth = 0;
  std::size_t pages = 0; ///< branch + leaf + overflow
  std::size_t entries = 0;
};

/// The journal's file and trees, read with raw LMDB (read-only) while no
/// journal has the directory open.
struct journal_layout {
  uint64_t events = 0;
  uint64_t streams = 0;
  uint64_t unindexed = 0; ///< events whose index entries were still in memory
  double prefill_s = 0;
  double file_bytes = 0; ///< data.mdb's size
  double used_bytes = 0; ///< pages up to the last one in use
  tree_stat log, stream_index, partition_index;
};

void stat_layout(const std::string& dir, journal_layout& out) {
  out.file_bytes
    = static_cast<double>(std::filesystem::file_size(dir + "/data.mdb"));
  MDB_env* env = nullptr;
  check(mdb_env_create(&env), "mdb_env_create");
  std::unique_ptr<MDB_env, void (*)(MDB_env*)> guard{env, mdb_env_close};
  check(mdb_env_set_maxdbs(env, 16), "mdb_env_set_maxdbs");
  check(mdb_env_open(env, dir.c_str(), MDB_RDONLY, 0644), "mdb_env_open");
  MDB_stat est;
  check(mdb_env_stat(env, &est), "mdb_env_stat");
  MDB_envinfo info;
  check(mdb_env_info(env, &info), "mdb_env_info");
  out.used_bytes = static_cast<double>(info.me_last_pgno + 1)
                   * static_cast<double>(est.ms_psize);
  MDB_txn* txn = nullptr;
  check(mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn), "mdb_txn_begin");
  auto stat = [&](const char* table, tree_stat& t) {
    MDB_dbi dbi = 0;
    MDB_stat st;
    int rc = mdb_dbi_open(txn, table, 0, &dbi);
    if (rc == 0) {
      rc = mdb_stat(txn, dbi, &st);
    }
    if (rc != 0) {
      mdb_txn_abort(txn);
      check(rc, table);
    }
    t.depth = st.ms_depth;
    t.pages = st.ms_branch_pages + st.ms_leaf_pages + st.ms_overflow_pages;
    t.entries = st.ms_entries;
  };
  stat("log", out.log);
  stat("stream_index", out.stream_index);
  stat("partition_index", out.partition_index);
  mdb_txn_abort(txn);
}

/// Writes `rounds` events to each of `ids` (random order per round) into a
/// new journal in `dir` without fsync, closes it, flushes data.mdb to the
/// device and reads the layout.
journal_layout prefill(const std::string& dir,
                       const std::vector<std::string>& ids, std::size_t rounds,
                       uint64_t seed) {
  journal_layout out;
  auto t0 = clock_type::now();
  {
    auto j = open_journal(dir, annals::durability::unsafe_no_sync);
    std::mt19937_64 rng{seed};
    append_rounds(*j, ids, rounds, &rng);
    auto st = j->stats();
    if (!st) {
      throw std::runtime_error("journal stats: "
                               + annals::describe(st.error()));
    }
    out.events = st->events;
    out.unindexed = st->unindexed_events;
    if (out.events != ids.size() * rounds) {
      throw std::runtime_error("prefill: the journal holds "
                               + std::to_string(out.events) + " events, not "
                               + std::to_string(ids.size() * rounds));
    }
  }
  sync_file(dir + "/data.mdb");
  out.prefill_s = seconds_between(t0, clock_type::now());
  out.streams = ids.size();
  stat_layout(dir, out);
  return out;
}

/// Copies the prefilled data.mdb of `from` into the empty directory `to`
/// and flushes the copy to the device.
void copy_journal(const std::string& from, const std::string& to) {
  std::filesystem::copy_file(from + "/data.mdb", to + "/data.mdb");
  sync_file(to + "/data.mdb");
}

// -- raw LMDB baseline --------------------------------------------------------

struct raw_result {
  std::size_t batch = 1;
  double rate = 0; ///< values/s
  double commit_ms = 0;
  double fsync_before_ms = 0;
  double fsync_after_ms = 0;
};

/// Raw LMDB appends (default sync flags: one fsync'd commit per batch) of
/// `batch` 120-byte values with sequential u64be keys, for about `seconds`.
raw_result run_raw(std::size_t batch, double seconds) {
  temp_dir dir;
  raw_result res;
  res.batch = std::max<std::size_t>(1, batch);
  res.fsync_before_ms = probe_fsync_ms(dir.path());
  {
    MDB_env* env = nullptr;
    check(mdb_env_create(&env), "mdb_env_create");
    std::unique_ptr<MDB_env, void (*)(MDB_env*)> guard{env, mdb_env_close};
    check(mdb_env_set_mapsize(env, raw_map_bytes), "mdb_env_set_mapsize");
    check(mdb_env_open(env, dir.path().c_str(), 0, 0644), "mdb_env_open");
    MDB_dbi dbi = 0;
    std::vector<char> value(raw_value_bytes);
    std::mt19937 rng{42};
    for (auto& c : value) {
      c = static_cast<char>(rng() & 0xff);
    }
    uint64_t key = 0;
    auto commit = [&](std::size_t n) {
      MDB_txn* txn = nullptr;
      check(mdb_txn_begin(env, nullptr, 0, &txn), "mdb_txn_begin");
      if (dbi == 0) {
        if (auto rc = mdb_dbi_open(txn, nullptr, 0, &dbi); rc != 0) {
          mdb_txn_abort(txn);
          check(rc, "mdb_dbi_open");
        }
      }
      for (std::size_t i = 0; i < n; ++i) {
        char k[8];
        put_u64be(k, ++key);
        std::memcpy(value.data(), k, 8);
        MDB_val kv{sizeof k, k};
        MDB_val vv{value.size(), value.data()};
        if (auto rc = mdb_put(txn, dbi, &kv, &vv, MDB_APPEND); rc != 0) {
          mdb_txn_abort(txn);
          check(rc, "mdb_put");
        }
      }
      check(mdb_txn_commit(txn), "mdb_txn_commit");
    };
    commit(1000); // untimed prefill
    uint64_t commits = 0;
    auto budget = std::chrono::duration<double>(seconds);
    auto start = clock_type::now();
    auto end = start;
    for (;;) {
      commit(res.batch);
      end = clock_type::now();
      ++commits;
      if ((end - start >= budget && commits >= 10)
          || end - start >= 3 * budget) {
        break;
      }
    }
    auto secs = seconds_between(start, end);
    res.rate = static_cast<double>(commits * res.batch) / secs;
    res.commit_ms = secs * 1000 / static_cast<double>(commits);
  }
  res.fsync_after_ms = probe_fsync_ms(dir.path());
  return res;
}

// -- the runtime under test ---------------------------------------------------

/// An actor system with the runtime's default configuration plus a runtime
/// on `store`. Destroys the runtime (which stops its actors) before the
/// actor system; the journal closes with the last actor.
struct runtime_env {
  runtime_env(std::shared_ptr<annals::journal> store, annals::runtime_config rc)
    : sys(cfg) {
    rt = annals::runtime::start(sys, std::move(rc), std::move(store));
    accounts = rt->host<bench::account>();
  }
  runtime_env(const runtime_env&) = delete;
  runtime_env& operator=(const runtime_env&) = delete;
  ~runtime_env() {
    accounts = {};
    rt.reset();
  }

  annals::config cfg;
  caf::actor_system sys;
  std::unique_ptr<annals::runtime> rt;
  annals::aggregate_handle<bench::account> accounts;
};

// -- load drivers -------------------------------------------------------------

/// What one driver actor does: keep `window` requests outstanding, either
/// sending to ids[begin, end) once each (activation) or to ids drawn
/// uniformly at random until `deadline`.
struct load_spec {
  annals::aggregate_handle<bench::account> accounts;
  const std::vector<std::string>* ids = nullptr;
  bool sequential = false;
  std::size_t begin = 0;
  std::size_t end = 0;
  clock_type::time_point deadline;
  uint64_t seed = 1;
  bool query = false; ///< get_balance (checked) instead of deposit
  int64_t expected_balance = 0;
};

struct load_result {
  std::vector<double> lat_ms; ///< every successful command
  uint64_t ok = 0;
  uint64_t ok_in_time = 0; ///< replied before the deadline
  uint64_t errors = 0;
  std::string first_error;
  std::atomic<uint64_t> outstanding{0}; ///< for hang reports
};

class driver {
public:
  driver(caf::event_based_actor* self, load_spec spec,
         std::shared_ptr<load_result> out,
         std::shared_ptr<std::promise<void>> done)
    : self_(self), spec_(std::move(spec)), out_(std::move(out)),
      done_(std::move(done)), rng_(spec_.seed), pick_(0, spec_.ids->size() - 1),
      next_(spec_.begin) {
  }

  void start() {
    for (std::size_t i = 0; i < window; ++i) {
      if (!send_next()) {
        break;
      }
    }
    if (outstanding_ == 0) {
      finish();
    }
  }

private:
  bool send_next() {
    const std::string* id = nullptr;
    if (spec_.sequential) {
      if (next_ >= spec_.end) {
        return false;
      }
      id = &(*spec_.ids)[next_++];
    } else {
      if (clock_type::now() >= spec_.deadline) {
        return false;
      }
      id = &(*spec_.ids)[pick_(rng_)];
    }
    ++outstanding_;
    ++out_->outstanding;
    auto t0 = clock_type::now();
    auto timeout = caf::duration{std::chrono::seconds{60}};
    auto on_error = [this](caf::error& err) {
      on_reply(clock_type::now(), {}, annals::render(err));
    };
    if (spec_.query) {
      self_
        ->request(spec_.accounts.actor(), timeout,
                  spec_.accounts.make(*id, bench::get_balance{}))
        .then(
          [this, t0](int64_t v) {
            if (v != spec_.expected_balance) {
              on_reply(t0, {},
                       "get_balance replied " + std::to_string(v)
                         + ", expected "
                         + std::to_string(spec_.expected_balance));
            } else {
              on_reply(t0, clock_type::now(), {});
            }
          },
          on_error);
    } else {
      self_
        ->request(spec_.accounts.actor(), timeout,
                  spec_.accounts.make(*id, bench::deposit{1, memo}))
        .then([this,
               t0](const annals::ack&) { on_reply(t0, clock_type::now(), {}); },
              on_error);
    }
    return true;
  }

  void on_reply(clock_type::time_point t0, clock_type::time_point t1,
                std::string error) {
    --outstanding_;
    --out_->outstanding;
    if (!error.empty()) {
      ++out_->errors;
      if (out_->first_error.empty()) {
        out_->first_error = std::move(error);
      }
    } else {
      ++out_->ok;
      if (spec_.sequential || t1 <= spec_.deadline) {
        ++out_->ok_in_time;
      }
      out_->lat_ms.push_back(
        std::chrono::duration<double, std::milli>(t1 - t0).count());
    }
    send_next();
    if (outstanding_ == 0) {
      finish();
    }
  }

  void finish() {
    if (finished_) {
      return;
    }
    finished_ = true;
    self_->quit();
    done_->set_value();
  }

  caf::event_based_actor* self_;
  load_spec spec_;
  std::shared_ptr<load_result> out_;
  std::shared_ptr<std::promise<void>> done_;
  std::mt19937_64 rng_;
  std::uniform_int_distribution<std::size_t> pick_;
  std::size_t next_;
  std::size_t outstanding_ = 0;
  bool finished_ = false;
};

caf::behavior driver_actor(caf::event_based_actor* self, load_spec spec,
                           std::shared_ptr<load_result> out,
                           std::shared_ptr<std::promise<void>> done) {
  auto d = std::make_shared<driver>(self, std::move(spec), std::move(out),
                                    std::move(done));
  d->start();
  // Replies arrive through the response handlers; this keeps `d` alive.
  return {[d](caf::ok_atom) {}};
}

/// The drivers' results merged.
struct load_totals {
  uint64_t ok = 0;
  uint64_t ok_in_time = 0;
  uint64_t errors = 0;
  std::string first_error;
  std::vector<double> lat_ms; ///< sorted
};

/// Spawns one driver per spec and waits (bounded) until all finished. A
/// hang ends the process: the actor system would wait for the stuck actors
/// forever.
load_totals run_drivers(runtime_env& env, const std::vector<load_spec>& specs,
                        const char* what, std::chrono::seconds limit) {
  std::vector<std::shared_ptr<load_result>> results;
  std::vector<std::future<void>> futures;
  for (const auto& s : specs) {
    auto r = std::make_shared<load_result>();
    auto p = std::make_shared<std::promise<void>>();
    futures.push_back(p->get_future());
    results.push_back(r);
    env.sys.spawn(driver_actor, s, r, p);
  }
  auto deadline = clock_type::now() + limit;
  for (auto& f : futures) {
    if (f.wait_until(deadline) != std::future_status::ready) {
      uint64_t outstanding = 0;
      for (const auto& r : results) {
        outstanding += r->outstanding;
      }
      auto st = env.rt->stats();
      std::printf("\nHANG in %s: %llu requests outstanding; runtime: %llu "
                  "commits, %llu live aggregates, %llu recoveries\n",
                  what, static_cast<unsigned long long>(outstanding),
                  static_cast<unsigned long long>(st.commits),
                  static_cast<unsigned long long>(st.live_aggregates),
                  static_cast<unsigned long long>(st.recoveries));
      std::fflush(stdout);
      std::_Exit(3);
    }
  }
  load_totals t;
  for (const auto& r : results) {
    t.ok += r->ok;
    t.ok_in_time += r->ok_in_time;
    t.errors += r->errors;
    if (t.first_error.empty()) {
      t.first_error = r->first_error;
    }
    t.lat_ms.insert(t.lat_ms.end(), r->lat_ms.begin(), r->lat_ms.end());
  }
  std::sort(t.lat_ms.begin(), t.lat_ms.end());
  return t;
}

/// Sends one checked get_balance to each of `ids` (untimed activation).
void activate(runtime_env& env, const std::vector<std::string>& ids,
              int64_t expected_balance) {
  std::vector<load_spec> specs;
  auto n = std::min(drivers, ids.size());
  for (std::size_t d = 0; d < n; ++d) {
    load_spec s;
    s.accounts = env.accounts;
    s.ids = &ids;
    s.sequential = true;
    s.begin = ids.size() * d / n;
    s.end = ids.size() * (d + 1) / n;
    s.query = true;
    s.expected_balance = expected_balance;
    specs.push_back(s);
  }
  auto t = run_drivers(env, specs, "activation", std::chrono::seconds{300});
  if (t.errors > 0) {
    throw std::runtime_error("activation: " + std::to_string(t.errors)
                             + " commands failed, first: " + t.first_error);
  }
}

// -- one throughput point -----------------------------------------------------

/// What a point of (1) or (2) runs on.
struct point_spec {
  const std::string* prefilled = nullptr; ///< directory holding data.mdb
  uint64_t events_before = 0;
  const std::vector<std::string>* targets = nullptr; ///< commands go here
  std::vector<std::string> activate;                 ///< live at the start
  int64_t balance = 0; ///< of every activated aggregate
};

struct run_result {
  double rate = 0; ///< commands/s replied within the timed window
  double p50_ms = 0, p99_ms = 0, mean_ms = 0;
  double batch = 0;          ///< appends per commit
  double commit_ms = 0;      ///< mean time inside journal::commit
  double kib_per_commit = 0; ///< bytes passed to write(2) per commit
  double writer_busy = 0;    ///< share of the wall time inside journal::commit
  double gap_ms = 0;         ///< wall time per commit minus commit_ms
  double cores = 0;          ///< CPU used by the process
  double recoveries_per_cmd = 0;
  double passivations_per_cmd = 0;
  uint64_t live_start = 0, live_end = 0;
  double open_ms = 0;      ///< open_lmdb_journal of the copy
  double activation_s = 0; ///< untimed activation
  uint64_t unindexed = 0;  ///< index tail at open
  double copy_s = 0;       ///< untimed: copying the prefilled journal
  double stop_s = 0;       ///< untimed: stopping the runtime and actor system
  uint64_t errors = 0;
  std::string first_error;
  std::string scheduler;
  raw_result raw;
  double ratio = 0; ///< rate / raw.rate
  double fsync_before_ms = 0, fsync_after_ms = 0;

  std::vector<double> probes() const {
    return {fsync_before_ms, fsync_after_ms, raw.fsync_before_ms,
            raw.fsync_after_ms};
  }
};

run_result run_point(const point_spec& p, const settings& cfg, uint64_t seed) {
  temp_dir dir;
  run_result res;
  auto t_copy = clock_type::now();
  copy_journal(*p.prefilled, dir.path());
  res.copy_s = seconds_between(t_copy, clock_type::now());
  res.fsync_before_ms = probe_fsync_ms(dir.path());
  clock_type::time_point t_stop;
  {
    auto t_open = clock_type::now();
    std::shared_ptr<annals::journal> store
      = open_journal(dir.path(), annals::durability::fsync);
    res.open_ms = ms_since(t_open);
    if (auto js = store->stats()) {
      res.unindexed = js->unindexed_events;
    }
    annals::runtime_config rc;
    rc.data_dir = dir.path();
    runtime_env env{std::move(store), rc};
    res.scheduler = scheduler_of(env.sys);
    auto t_act = clock_type::now();
    activate(env, p.activate, p.balance);
    res.activation_s = seconds_between(t_act, clock_type::now());
    auto st0 = env.rt->stats();
    auto cpu0 = process_cpu_seconds();
    auto wchar0 = bytes_written();
    auto start = clock_type::now();
    std::vector<load_spec> specs;
    for (std::size_t d = 0; d < drivers; ++d) {
      load_spec ls;
      ls.accounts = env.accounts;
      ls.ids = p.targets;
      ls.deadline = start
                    + std::chrono::duration_cast<clock_type::duration>(
                      std::chrono::duration<double>(cfg.seconds));
      ls.seed = seed * 100 + d;
      specs.push_back(ls);
    }
    auto t
      = run_drivers(env, specs, "timed run",
                    std::chrono::seconds{static_cast<long>(cfg.seconds) + 120});
    auto wall = seconds_between(start, clock_type::now());
    auto st1 = env.rt->stats();
    res.cores = (process_cpu_seconds() - cpu0) / wall;
    res.rate = static_cast<double>(t.ok_in_time) / cfg.seconds;
    res.p50_ms = percentile(t.lat_ms, 0.5);
    res.p99_ms = percentile(t.lat_ms, 0.99);
    res.mean_ms = t.lat_ms.empty()
                    ? 0
                    : std::accumulate(t.lat_ms.begin(), t.lat_ms.end(), 0.0)
                        / static_cast<double>(t.lat_ms.size());
    res.errors = t.errors;
    res.first_error = t.first_error;
    auto commits = st1.commits - st0.commits;
    auto appends = st1.appends - st0.appends;
    auto busy_s = static_cast<double>(st1.commit_latency_sum_us
                                      - st0.commit_latency_sum_us)
                  / 1e6;
    res.batch = commits > 0
                  ? static_cast<double>(appends) / static_cast<double>(commits)
                  : 0;
    res.commit_ms
      = commits > 0 ? busy_s * 1000 / static_cast<double>(commits) : 0;
    res.writer_busy = busy_s / wall;
    res.kib_per_commit = commits > 0 ? (bytes_written() - wchar0) / 1024
                                         / static_cast<double>(commits)
                                     : 0;
    res.gap_ms = commits > 0
                   ? wall * 1000 / static_cast<double>(commits) - res.commit_ms
                   : 0;
    auto per_cmd = [&](uint64_t x) {
      return t.ok > 0 ? static_cast<double>(x) / static_cast<double>(t.ok) : 0;
    };
    res.recoveries_per_cmd = per_cmd(st1.recoveries - st0.recoveries);
    res.passivations_per_cmd = per_cmd(st1.passivations - st0.passivations);
    res.live_start = st0.live_aggregates;
    res.live_end = st1.live_aggregates;
    // Correctness: the journal holds the prefill plus one event per
    // acknowledged deposit.
    if (auto js = env.rt->store().stats(); !js) {
      ++res.errors;
      res.first_error = "journal stats: " + annals::describe(js.error());
    } else if (t.errors == 0 && js->events != p.events_before + t.ok) {
      ++res.errors;
      res.first_error = "journal holds " + std::to_string(js->events)
                        + " events, expected "
                        + std::to_string(p.events_before + t.ok);
    }
    t_stop = clock_type::now();
  } // runtime, then actor system, then journal
  res.stop_s = seconds_between(t_stop, clock_type::now());
  res.fsync_after_ms = probe_fsync_ms(dir.path());
  res.raw = run_raw(static_cast<std::size_t>(std::lround(res.batch)),
                    cfg.raw_seconds);
  res.ratio = res.raw.rate > 0 ? res.rate / res.raw.rate : 0;
  return res;
}

/// Medians of the repetitions of one point.
struct point_summary {
  std::size_t x = 0; ///< aggregates or events before
  double rate = 0, p50 = 0, p99 = 0, batch = 0, raw_rate = 0, ratio = 0,
         raw_commit_ms = 0, kib_per_commit = 0, commit_ms = 0, writer_busy = 0,
         gap_ms = 0, cores = 0, recoveries = 0, passivations = 0, open_ms = 0,
         activation_s = 0;
  uint64_t live_start = 0, unindexed = 0, errors = 0;
  std::string first_error;
  std::vector<double> probes;
  int retried = 0; ///< runs measured again (flush regime changed)
  int mixed = 0;   ///< runs whose flush regime changed, kept
  journal_layout layout;
};

point_summary summarise(std::size_t x, const std::vector<run_result>& rs) {
  point_summary s;
  s.x = x;
  auto med = [&](auto field) {
    std::vector<double> v;
    for (const auto& r : rs) {
      v.push_back(field(r));
    }
    return median(v);
  };
  s.rate = med([](const run_result& r) { return r.rate; });
  s.p50 = med([](const run_result& r) { return r.p50_ms; });
  s.p99 = med([](const run_result& r) { return r.p99_ms; });
  s.batch = med([](const run_result& r) { return r.batch; });
  s.raw_rate = med([](const run_result& r) { return r.raw.rate; });
  s.raw_commit_ms = med([](const run_result& r) { return r.raw.commit_ms; });
  s.ratio = med([](const run_result& r) { return r.ratio; });
  s.commit_ms = med([](const run_result& r) { return r.commit_ms; });
  s.kib_per_commit = med([](const run_result& r) { return r.kib_per_commit; });
  s.writer_busy = med([](const run_result& r) { return r.writer_busy; });
  s.gap_ms = med([](const run_result& r) { return r.gap_ms; });
  s.cores = med([](const run_result& r) { return r.cores; });
  s.recoveries = med([](const run_result& r) { return r.recoveries_per_cmd; });
  s.passivations
    = med([](const run_result& r) { return r.passivations_per_cmd; });
  s.open_ms = med([](const run_result& r) { return r.open_ms; });
  s.activation_s = med([](const run_result& r) { return r.activation_s; });
  for (const auto& r : rs) {
    s.live_start = r.live_start;
    s.unindexed = r.unindexed;
    s.errors += r.errors;
    if (s.first_error.empty()) {
      s.first_error = r.first_error;
    }
    for (auto p : r.probes()) {
      s.probes.push_back(p);
    }
  }
  return s;
}

void print_run(const run_result& r) {
  std::printf(
    "    run: %7s cmd/s p50 %s p99 %s | batch %.1f, commit %s (%.0f KiB), "
    "writer in commit %.0f%% | %.2f recoveries/cmd | %.2f cores | raw %s ev/s "
    "at B=%zu "
    "(%.2fx) | copy %.1f s, open %s, activation %.1f s, stop %.1f s | %s | "
    "fsync %s/%s/%s/%s%s\n",
    fmt_rate(r.rate).c_str(), fmt_ms(r.p50_ms).c_str(),
    fmt_ms(r.p99_ms).c_str(), r.batch, fmt_ms(r.commit_ms).c_str(),
    r.kib_per_commit, r.writer_busy * 100, r.recoveries_per_cmd, r.cores,
    fmt_rate(r.raw.rate).c_str(), r.raw.batch, r.ratio, r.copy_s,
    fmt_ms(r.open_ms).c_str(), r.activation_s, r.stop_s, r.scheduler.c_str(),
    fmt_ms(r.fsync_before_ms).c_str(), fmt_ms(r.fsync_after_ms).c_str(),
    fmt_ms(r.raw.fsync_before_ms).c_str(), fmt_ms(r.raw.fsync_after_ms).c_str(),
    r.errors > 0 ? (" | ERRORS: " + r.first_error).c_str() : "");
  std::fflush(stdout);
}

/// Runs --reps repetitions of a point (each measured again once, except
/// with --quick, if the device's flush latency changed regime meanwhile).
point_summary measure_point(std::size_t x, const point_spec& p,
                            const settings& cfg, uint64_t seed) {
  std::vector<run_result> runs;
  int retried = 0;
  int mixed = 0;
  int attempts = cfg.quick ? 1 : 2;
  for (int rep = 0; rep < cfg.reps; ++rep) {
    run_result r;
    for (int attempt = 0; attempt < attempts; ++attempt) {
      r = run_point(p, cfg, seed + static_cast<uint64_t>(rep));
      if (cfg.verbose) {
        print_run(r);
      }
      if (!regime_changed(r.probes())) {
        break;
      }
      if (attempt + 1 < attempts) {
        ++retried;
      }
    }
    if (regime_changed(r.probes())) {
      ++mixed;
    }
    runs.push_back(std::move(r));
  }
  auto s = summarise(x, runs);
  s.retried = retried;
  s.mixed = mixed;
  return s;
}

/// " | flush latency changed regime ..." if it did during a point.
std::string regime_note(const point_summary& s) {
  if (s.retried == 0 && s.mixed == 0) {
    return {};
  }
  char buf[128];
  std::snprintf(buf, sizeof buf,
                " | flush latency changed > 3x: %d run%s measured again, %d "
                "still mixed",
                s.retried, s.retried == 1 ? "" : "s", s.mixed);
  return buf;
}

/// What bounds a throughput point, from its counters.
std::string bound_of(const point_summary& s) {
  char buf[200];
  auto ncpu = static_cast<double>(std::thread::hardware_concurrency());
  if (s.recoveries > 0.3) {
    std::snprintf(buf, sizeof buf,
                  "recoveries: %.0f%% of commands recover their aggregate "
                  "(and passivate another)",
                  s.recoveries * 100);
  } else if (s.writer_busy > 0.75 && s.commit_ms <= 1.5 * s.raw_commit_ms) {
    std::snprintf(buf, sizeof buf,
                  "the device: writer in commit %.0f%%, a commit takes %s, "
                  "raw LMDB %s for the same batch",
                  s.writer_busy * 100, fmt_ms(s.commit_ms).c_str(),
                  fmt_ms(s.raw_commit_ms).c_str());
  } else if (s.writer_busy > 0.75) {
    std::snprintf(buf, sizeof buf,
                  "the journal: writer in commit %.0f%%, a commit takes %s "
                  "and writes %.0f KiB, raw LMDB %s for the same batch",
                  s.writer_busy * 100, fmt_ms(s.commit_ms).c_str(),
                  s.kib_per_commit, fmt_ms(s.raw_commit_ms).c_str());
  } else if (s.cores > 0.85 * ncpu) {
    std::snprintf(buf, sizeof buf, "CPU: %.2f of %.0f cores", s.cores, ncpu);
  } else {
    std::snprintf(buf, sizeof buf,
                  "round trip between commits (writer waits %s per commit, "
                  "commits %s)",
                  fmt_ms(s.gap_ms).c_str(), fmt_ms(s.commit_ms).c_str());
  }
  return buf;
}

// -- CSV ----------------------------------------------------------------------

/// One CSV file: a header row, then one row per point.
class csv_file {
public:
  csv_file(const std::string& path, const std::vector<std::string>& columns)
    : path_(path), out_(path) {
    if (!out_) {
      throw std::runtime_error("cannot write " + path);
    }
    for (std::size_t i = 0; i < columns.size(); ++i) {
      out_ << (i == 0 ? "" : ",") << columns[i];
    }
    out_ << '\n';
  }

  void row(const std::vector<double>& values) {
    for (std::size_t i = 0; i < values.size(); ++i) {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.10g", values[i]);
      out_ << (i == 0 ? "" : ",") << buf;
    }
    out_ << '\n';
    out_.flush();
  }

  const std::string& path() const noexcept {
    return path_;
  }

private:
  std::string path_;
  std::ofstream out_;
};

// -- (1) aggregates -----------------------------------------------------------

struct series_result {
  std::vector<point_summary> points;
  std::vector<double> probes;
};

series_result series_aggregates(const settings& cfg) {
  series_result out;
  annals::runtime_config defaults;
  auto max_live = defaults.hosts.max_live;
  std::printf("(1) throughput vs aggregates: %zu commands in flight (%zu "
              "drivers x %zu), deposits to ids uniform at random, fsync; each "
              "stream holds 1 event before the run; min(N, max_live = %s) "
              "aggregates activated (untimed), the runtime's LRU passivation "
              "beyond max_live is part of what is measured\n",
              in_flight, drivers, window, fmt_count(max_live).c_str());
  std::fflush(stdout);
  csv_file csv{cfg.out_dir + "/scaling_aggregates.csv",
               {"aggregates", "live_at_start", "cmd_per_s", "p50_ms", "p99_ms",
                "batch", "raw_ev_per_s", "runtime_vs_raw", "recoveries_per_cmd",
                "commit_ms", "raw_commit_ms", "kib_per_commit", "writer_busy",
                "cores", "fsync_ms", "reps"}};
  uint64_t seed = 1;
  for (auto n : cfg.aggregate_sizes) {
    temp_dir tmpl;
    auto ids = make_ids("a", n);
    auto layout = prefill(tmpl.path(), ids, 1, seed);
    point_spec p;
    p.prefilled = &tmpl.path();
    p.events_before = layout.events;
    p.targets = &ids;
    p.balance = 1;
    // The aggregates live at the start: all of them, or max_live drawn at
    // random (the steady state of uniform random access under the LRU cap).
    std::vector<std::size_t> order(n);
    std::iota(order.begin(), order.end(), std::size_t{0});
    std::mt19937_64 rng{seed + 7};
    std::shuffle(order.begin(), order.end(), rng);
    order.resize(std::min(n, max_live));
    for (auto i : order) {
      p.activate.push_back(ids[i]);
    }
    auto s = measure_point(n, p, cfg, seed * 10);
    s.layout = layout;
    std::printf("  %-6s aggregates: %7s cmd/s  p50 %7s  p99 %7s | batch %5.1f "
                "| raw %7s ev/s -> %.2fx | %.2f recoveries/cmd | live at "
                "start %llu | untimed: prefill %.1f s (%s), activation %.1f "
                "s%s%s\n",
                fmt_count(n).c_str(), fmt_rate(s.rate).c_str(),
                fmt_ms(s.p50).c_str(), fmt_ms(s.p99).c_str(), s.batch,
                fmt_rate(s.raw_rate).c_str(), s.ratio, s.recoveries,
                static_cast<unsigned long long>(s.live_start), layout.prefill_s,
                fmt_bytes(layout.file_bytes).c_str(), s.activation_s,
                regime_note(s).c_str(),
                s.errors > 0 ? (" | ERRORS: " + s.first_error).c_str() : "");
    std::fflush(stdout);
    csv.row({static_cast<double>(n), static_cast<double>(s.live_start), s.rate,
             s.p50, s.p99, s.batch, s.raw_rate, s.ratio, s.recoveries,
             s.commit_ms, s.raw_commit_ms, s.kib_per_commit, s.writer_busy,
             s.cores, median(s.probes), static_cast<double>(cfg.reps)});
    out.probes.insert(out.probes.end(), s.probes.begin(), s.probes.end());
    out.points.push_back(std::move(s));
    ++seed;
  }
  std::printf("  fsync %s\n", fsync_range(out.probes).c_str());
  return out;
}

// -- (2) journal size ---------------------------------------------------------

series_result series_journal_size(const settings& cfg) {
  series_result out;
  std::printf("(2) throughput vs events already in the journal: %s "
              "aggregates, %zu in flight, fsync; the journal holds P events "
              "of P/%zu streams (%zu each, one per append, rounds in random "
              "order); the run's aggregates are %s of those streams, "
              "activated first (untimed)\n",
              fmt_count(measured_aggregates).c_str(), in_flight,
              events_per_stream, events_per_stream,
              fmt_count(measured_aggregates).c_str());
  std::fflush(stdout);
  csv_file csv{cfg.out_dir + "/scaling_journal_size.csv",
               {"events_before",
                "streams",
                "prefill_ev_per_s",
                "data_file_mib",
                "used_mib",
                "log_depth",
                "stream_index_depth",
                "partition_index_depth",
                "log_pages",
                "stream_index_pages",
                "partition_index_pages",
                "unindexed_events",
                "open_ms",
                "cmd_per_s",
                "p50_ms",
                "p99_ms",
                "batch",
                "raw_ev_per_s",
                "runtime_vs_raw",
                "commit_ms",
                "raw_commit_ms",
                "kib_per_commit",
                "writer_busy",
                "fsync_ms",
                "reps"}};
  uint64_t seed = 101;
  for (auto events : cfg.journal_sizes) {
    temp_dir tmpl;
    auto streams
      = std::max<std::size_t>(events / events_per_stream, measured_aggregates);
    auto ids = make_ids("s", streams);
    auto layout = prefill(tmpl.path(), ids, events_per_stream, seed);
    std::printf(
      "  %-6s events: %zu streams, prefill %.1f s (%s ev/s); "
      "data.mdb %s (used %s); depth/pages: log %u/%zu, stream_index "
      "%u/%zu, partition_index %u/%zu; %llu events unindexed\n",
      fmt_count(layout.events).c_str(), streams, layout.prefill_s,
      fmt_rate(static_cast<double>(layout.events) / layout.prefill_s).c_str(),
      fmt_bytes(layout.file_bytes).c_str(),
      fmt_bytes(layout.used_bytes).c_str(), layout.log.depth, layout.log.pages,
      layout.stream_index.depth, layout.stream_index.pages,
      layout.partition_index.depth, layout.partition_index.pages,
      static_cast<unsigned long long>(layout.unindexed));
    std::fflush(stdout);
    std::vector<std::string> targets;
    targets.reserve(measured_aggregates);
    for (std::size_t i = 0; i < measured_aggregates; ++i) {
      targets.push_back(ids[i * streams / measured_aggregates]);
    }
    point_spec p;
    p.prefilled = &tmpl.path();
    p.events_before = layout.events;
    p.targets = &targets;
    p.activate = targets;
    p.balance = static_cast<int64_t>(events_per_stream);
    auto s = measure_point(events, p, cfg, seed * 10);
    s.layout = layout;
    std::printf("  %-6s events: %7s cmd/s  p50 %7s  p99 %7s | batch %5.1f "
                "| raw %7s ev/s -> %.2fx | commit %s, %.0f KiB written (raw "
                "%s) | open %s, activation %.1f s (untimed)%s%s\n",
                fmt_count(layout.events).c_str(), fmt_rate(s.rate).c_str(),
                fmt_ms(s.p50).c_str(), fmt_ms(s.p99).c_str(), s.batch,
                fmt_rate(s.raw_rate).c_str(), s.ratio,
                fmt_ms(s.commit_ms).c_str(), s.kib_per_commit,
                fmt_ms(s.raw_commit_ms).c_str(), fmt_ms(s.open_ms).c_str(),
                s.activation_s, regime_note(s).c_str(),
                s.errors > 0 ? (" | ERRORS: " + s.first_error).c_str() : "");
    std::fflush(stdout);
    auto mib = [](double b) { return b / (1 << 20); };
    csv.row({static_cast<double>(layout.events),
             static_cast<double>(layout.streams),
             static_cast<double>(layout.events) / layout.prefill_s,
             mib(layout.file_bytes),
             mib(layout.used_bytes),
             static_cast<double>(layout.log.depth),
             static_cast<double>(layout.stream_index.depth),
             static_cast<double>(layout.partition_index.depth),
             static_cast<double>(layout.log.pages),
             static_cast<double>(layout.stream_index.pages),
             static_cast<double>(layout.partition_index.pages),
             static_cast<double>(layout.unindexed),
             s.open_ms,
             s.rate,
             s.p50,
             s.p99,
             s.batch,
             s.raw_rate,
             s.ratio,
             s.commit_ms,
             s.raw_commit_ms,
             s.kib_per_commit,
             s.writer_busy,
             median(s.probes),
             static_cast<double>(cfg.reps)});
    out.probes.insert(out.probes.end(), s.probes.begin(), s.probes.end());
    out.points.push_back(std::move(s));
    ++seed;
  }
  std::printf("  fsync %s\n", fsync_range(out.probes).c_str());
  return out;
}

// -- (3) recovery -------------------------------------------------------------

struct recovery_point {
  std::size_t events = 0;
  std::vector<std::string> ids;
  std::vector<double> runtime_ms;     ///< send -> reply, fresh runtimes
  std::vector<double> alone_first_ms; ///< replay, freshly opened journal
  std::vector<double> alone_hot_ms;   ///< replay, repeated
  std::vector<double> scan_hot_ms;    ///< journal scan alone, repeated
  std::string problem;
};

struct recovery_result {
  std::vector<recovery_point> points;
  double fsync_ms = 0;
  double empty_ms = 0; ///< first command to aggregates with 1 event
};

/// One timed get_balance from `self` (a blocking actor on this thread).
double timed_query(caf::scoped_actor& self, runtime_env& env,
                   const std::string& id, int64_t expected,
                   std::string& problem) {
  auto env_msg = env.accounts.make(id, bench::get_balance{});
  auto t0 = clock_type::now();
  double ms = 0;
  self
    ->request(env.accounts.actor(), caf::duration{std::chrono::seconds{60}},
              std::move(env_msg))
    .receive(
      [&](int64_t v) {
        ms = ms_since(t0);
        if (v != expected && problem.empty()) {
          problem = id + ": get_balance replied " + std::to_string(v)
                    + ", expected " + std::to_string(expected);
        }
      },
      [&](caf::error& err) {
        ms = ms_since(t0);
        if (problem.empty()) {
          problem = id + ": " + annals::render(err);
        }
      });
  return ms;
}

recovery_result series_recovery(const settings& cfg) {
  recovery_result out;
  temp_dir dir;
  out.fsync_ms = probe_fsync_ms(dir.path());
  for (auto n : cfg.recovery_sizes) {
    recovery_point p;
    p.events = n;
    char prefix[32];
    std::snprintf(prefix, sizeof prefix, "r%zu-", n);
    p.ids = make_ids(prefix, static_cast<std::size_t>(cfg.recovery_streams));
    out.points.push_back(std::move(p));
  }
  // Warm-up aggregates, one per runtime: their first query is untimed.
  // Aggregates with one event: the fixed cost of a first command.
  auto warm
    = make_ids("warm-", static_cast<std::size_t>(cfg.recovery_runtimes));
  auto ones = make_ids("one-", static_cast<std::size_t>(
                                 cfg.recovery_streams * cfg.recovery_runtimes));
  {
    auto j = open_journal(dir.path(), annals::durability::unsafe_no_sync);
    for (const auto& p : out.points) {
      append_rounds(*j, p.ids, p.events, nullptr);
    }
    append_rounds(*j, warm, 1, nullptr);
    append_rounds(*j, ones, 1, nullptr);
  }
  sync_file(dir.path() + "/data.mdb");
  std::vector<double> empty;
  for (int pass = 0; pass < cfg.recovery_runtimes; ++pass) {
    annals::runtime_config rc;
    rc.data_dir = dir.path();
    rc.hosts.snapshot_every = 0; // replay only: write no snapshots
    runtime_env env{open_journal(dir.path(), annals::durability::fsync), rc};
    caf::scoped_actor self{env.sys};
    std::string problem;
    timed_query(self, env, warm[static_cast<std::size_t>(pass)], 1, problem);
    auto streams = static_cast<std::size_t>(cfg.recovery_streams);
    for (std::size_t i = 0; i < streams; ++i) {
      empty.push_back(timed_query(
        self, env, ones[static_cast<std::size_t>(pass) * streams + i], 1,
        problem));
    }
    if (!problem.empty()) {
      throw std::runtime_error("recovery warm-up: " + problem);
    }
    for (auto& p : out.points) {
      for (const auto& id : p.ids) {
        p.runtime_ms.push_back(timed_query(
          self, env, id, static_cast<int64_t>(p.events), p.problem));
      }
    }
  }
  out.empty_ms = median(empty);
  // The replay alone, on this thread: scan + decode + apply, as recovery
  // does; first in a freshly opened journal, then repeated (hot).
  auto j = open_journal(dir.path(), annals::durability::fsync);
  auto replay = [&](recovery_point& p, const std::string& id, bool decode) {
    annals::stream_id sid{std::string{bench::account::category}, id};
    bench::account acc;
    uint64_t n = 0;
    caf::error derr;
    auto t0 = clock_type::now();
    auto err = j->scan_stream(sid, 1, [&](const annals::event_view& v) {
      ++n;
      if (!decode) {
        return true;
      }
      event_variant ev;
      if (auto e = annals::decode_event<bench::account::events>(
            v.type, v.schema_version, v.payload, v.payload_size, ev)) {
        derr = e;
        return false;
      }
      annals::apply_event(acc, ev);
      return true;
    });
    auto ms = ms_since(t0);
    if ((err || derr || n != p.events
         || (decode && acc.balance() != static_cast<int64_t>(p.events)))
        && p.problem.empty()) {
      p.problem = "direct replay of " + id + " failed";
    }
    return ms;
  };
  for (auto& p : out.points) {
    for (const auto& id : p.ids) {
      p.alone_first_ms.push_back(replay(p, id, true));
    }
  }
  for (auto& p : out.points) {
    for (const auto& id : p.ids) {
      replay(p, id, true);
      p.alone_hot_ms.push_back(replay(p, id, true));
      replay(p, id, false);
      p.scan_hot_ms.push_back(replay(p, id, false));
    }
  }
  return out;
}

void print_recovery(const recovery_result& r, const settings& cfg) {
  std::printf("(3) recovery vs events since the last snapshot (none): first "
              "command (get_balance) to a fresh aggregate in a fresh runtime, "
              "sent from the main thread (scoped_actor), send -> reply, warm "
              "page cache; median (min..max) of %d streams x %d runtimes | "
              "fsync %s\n",
              cfg.recovery_streams, cfg.recovery_runtimes,
              fmt_ms(r.fsync_ms).c_str());
  for (const auto& p : r.points) {
    auto [lo, hi]
      = std::minmax_element(p.runtime_ms.begin(), p.runtime_ms.end());
    auto med = median(p.runtime_ms);
    std::printf("  N=%-6s runtime %7s (%s..%s) = %4.0f ns/event | alone: "
                "replay %7s fresh map, %7s hot (scan %7s)%s\n",
                fmt_count(p.events).c_str(), fmt_ms(med).c_str(),
                fmt_ms(*lo).c_str(), fmt_ms(*hi).c_str(),
                med * 1e6 / static_cast<double>(p.events),
                fmt_ms(median(p.alone_first_ms)).c_str(),
                fmt_ms(median(p.alone_hot_ms)).c_str(),
                fmt_ms(median(p.scan_hot_ms)).c_str(),
                p.problem.empty() ? "" : (" | WRONG: " + p.problem).c_str());
  }
  std::printf(
    "  (fixed cost: aggregates with 1 event %s; alone = on the main thread "
    "without actors: scan + decode + apply, \"fresh map\" = the "
    "first replay of each stream in a freshly opened journal, hot = "
    "repeated; scan = the journal scan without decoding)\n",
    fmt_ms(r.empty_ms).c_str());
  std::fflush(stdout);
}

void write_recovery_csv(const recovery_result& r, const settings& cfg) {
  csv_file csv{cfg.out_dir + "/scaling_recovery.csv",
               {"events", "runtime_ms", "runtime_min_ms", "runtime_max_ms",
                "ns_per_event", "replay_alone_first_ms", "replay_alone_hot_ms",
                "scan_alone_hot_ms", "samples"}};
  for (const auto& p : r.points) {
    auto [lo, hi]
      = std::minmax_element(p.runtime_ms.begin(), p.runtime_ms.end());
    auto med = median(p.runtime_ms);
    csv.row({static_cast<double>(p.events), med, *lo, *hi,
             med * 1e6 / static_cast<double>(p.events),
             median(p.alone_first_ms), median(p.alone_hot_ms),
             median(p.scan_hot_ms), static_cast<double>(p.runtime_ms.size())});
  }
}

// -- summary and plots --------------------------------------------------------

void print_summary(const series_result* agg, const series_result* size,
                   const recovery_result* rec, const std::string& mode) {
  std::printf("summary (%s; medians):\n", mode.c_str());
  if (agg != nullptr) {
    std::printf("  (1) aggregates  cmd/s    p50      p99    batch  raw@batch "
                "ratio  recov/cmd  bound\n");
    for (const auto& s : agg->points) {
      std::printf("      %-8s %7s %8s %8s %6.1f %9s %5.2fx %9.2f  %s\n",
                  fmt_count(s.x).c_str(), fmt_rate(s.rate).c_str(),
                  fmt_ms(s.p50).c_str(), fmt_ms(s.p99).c_str(), s.batch,
                  fmt_rate(s.raw_rate).c_str(), s.ratio, s.recoveries,
                  bound_of(s).c_str());
    }
    std::printf("      fsync %s\n", fsync_range(agg->probes).c_str());
  }
  if (size != nullptr) {
    std::printf("  (2) events    data.mdb  depth log/stream/part  unindexed  "
                "cmd/s    p50      p99    ratio  bound\n");
    annals::journal_options jo;
    bool capped = false;
    for (const auto& s : size->points) {
      char depth[32];
      std::snprintf(depth, sizeof depth, "%u/%u/%u", s.layout.log.depth,
                    s.layout.stream_index.depth,
                    s.layout.partition_index.depth);
      capped = capped || s.layout.unindexed >= jo.max_unindexed_events;
      std::printf("      %-8s %9s  %-20s %9s %7s %8s %8s %5.2fx  %s\n",
                  fmt_count(s.x).c_str(),
                  fmt_bytes(s.layout.file_bytes).c_str(), depth,
                  fmt_rate(static_cast<double>(s.layout.unindexed)).c_str(),
                  fmt_rate(s.rate).c_str(), fmt_ms(s.p50).c_str(),
                  fmt_ms(s.p99).c_str(), s.ratio, bound_of(s).c_str());
    }
    std::printf("      (unindexed = events whose index entries were still in "
                "the journal's in-memory tail after the prefill; the open "
                "rebuilds it from the log%s)\n",
                capped ? "; at its cap, max_unindexed_events, commits write "
                         "more index entries into the durable indexes to keep "
                         "it there"
                       : "");
    std::printf("      fsync %s\n", fsync_range(size->probes).c_str());
  }
  if (rec != nullptr) {
    std::printf("  (3) N        recovery  ns/event  replay alone  bound\n");
    for (const auto& p : rec->points) {
      auto med = median(p.runtime_ms);
      auto alone = median(p.alone_first_ms);
      const char* bound
        = alone > 0.5 * med ? "the replay (journal scan + decode + apply)"
          : med < 2 * rec->empty_ms
            ? "the fixed cost of activating an aggregate (spawn, recovery "
              "permit, messaging)"
            : "the runtime around the replay";
      std::printf("      %-8s %8s %8.0f %12s  %s\n",
                  fmt_count(p.events).c_str(), fmt_ms(med).c_str(),
                  med * 1e6 / static_cast<double>(p.events),
                  fmt_ms(alone).c_str(), bound);
    }
    std::printf("      fsync %s\n", fmt_ms(rec->fsync_ms).c_str());
  }
}

/// The path of `name` on $PATH, if it is there and executable.
std::optional<std::string> find_on_path(const std::string& name) {
  const char* path = std::getenv("PATH");
  if (path == nullptr) {
    return std::nullopt;
  }
  std::string_view rest{path};
  while (!rest.empty()) {
    auto colon = rest.find(':');
    auto dir = rest.substr(0, colon);
    rest = colon == std::string_view::npos ? std::string_view{}
                                           : rest.substr(colon + 1);
    if (dir.empty()) {
      continue;
    }
    auto candidate = std::string{dir} + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0) {
      return candidate;
    }
  }
  return std::nullopt;
}

/// Draws the CSV files of `dir` with bench/plots/scaling.gp.
void plot(const std::string& dir, const std::string& label) {
  auto gnuplot = find_on_path("gnuplot");
  if (!gnuplot) {
    std::printf("plots skipped: gnuplot is not installed (Debian: apt-get "
                "install gnuplot-nox); the CSV files are in %s\n",
                dir.c_str());
    return;
  }
  std::string script = ANNALS_SCALING_PLOT_SCRIPT;
  std::vector<std::string> args{*gnuplot, "-c", script, dir, label};
  std::vector<char*> argv;
  for (auto& a : args) {
    argv.push_back(a.data());
  }
  argv.push_back(nullptr);
  pid_t pid = 0;
  if (int rc = ::posix_spawn(&pid, gnuplot->c_str(), nullptr, nullptr,
                             argv.data(), environ);
      rc != 0) {
    std::printf("plots failed: cannot start %s: %s\n", gnuplot->c_str(),
                std::strerror(rc));
    return;
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
    std::printf("plots: %s/scaling_*.png (%s)\n", dir.c_str(), script.c_str());
  } else {
    std::printf("plots failed: %s exited with status %d\n", script.c_str(),
                WIFEXITED(status) ? WEXITSTATUS(status) : -1);
  }
}

} // namespace

int main(int argc, char** argv) {
  settings cfg;
  std::optional<double> seconds;
  std::optional<int> reps;
  bool sizes_ok = true;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg{argv[i]};
    if (arg == "--quick") {
      cfg.quick = true;
      cfg.reps = 1;
      cfg.seconds = 1.0;
      cfg.raw_seconds = 0.3;
      cfg.aggregate_sizes = {100, 10'000, 100'000};
      cfg.journal_sizes = {100'000, 1'000'000};
      cfg.recovery_streams = 3;
      cfg.recovery_runtimes = 2;
    } else if (arg.starts_with("--out=")) {
      cfg.out_dir = std::string{arg.substr(6)};
    } else if (arg.starts_with("--seconds=")) {
      seconds = std::atof(argv[i] + 10);
    } else if (arg.starts_with("--reps=")) {
      reps = std::atoi(argv[i] + 7);
    } else if (arg.starts_with("--aggregates=")) {
      cfg.aggregate_sizes = parse_sizes(arg.substr(13));
      sizes_ok = sizes_ok && !cfg.aggregate_sizes.empty();
    } else if (arg.starts_with("--events=")) {
      cfg.journal_sizes = parse_sizes(arg.substr(9));
      sizes_ok = sizes_ok && !cfg.journal_sizes.empty();
    } else if (arg.starts_with("--recovery=")) {
      cfg.recovery_sizes = parse_sizes(arg.substr(11));
      sizes_ok = sizes_ok && !cfg.recovery_sizes.empty();
    } else if (arg.starts_with("--only=")) {
      cfg.series = std::string{arg.substr(7)};
    } else if (arg == "--no-plot") {
      cfg.plot = false;
    } else if (arg == "--verbose") {
      cfg.verbose = true;
    } else if (arg == "--help" || arg == "-h") {
      usage(stdout);
      return 0;
    } else {
      std::fprintf(stderr, "scaling_bench: unknown argument %s\n", argv[i]);
      usage(stderr);
      return 2;
    }
  }
  cfg.seconds = seconds.value_or(cfg.seconds);
  cfg.reps = reps.value_or(cfg.reps);
  if (!(cfg.seconds > 0) || cfg.reps < 1 || cfg.out_dir.empty() || !sizes_ok) {
    std::fprintf(stderr, "scaling_bench: --seconds and --reps must be > 0, "
                         "--out not empty, sizes lists of numbers >= 1\n");
    return 2;
  }
  auto wants = [&](char c) { return cfg.series.find(c) != std::string::npos; };
  try {
    auto bench_start = clock_type::now();
    std::filesystem::create_directories(cfg.out_dir);
    auto tmp = std::filesystem::temp_directory_path().string();
    std::string sched_name;
    {
      annals::config probe_cfg;
      caf::actor_system probe_sys{probe_cfg};
      sched_name = scheduler_of(probe_sys);
    }
    std::string mode = cfg.quick ? "QUICK run: smaller sizes" : "full run";
    std::printf("scaling_bench (%s): nproc=%u, load average %s, temp dir %s "
                "(%s), LMDB journal with durability::fsync (1024 partitions), "
                "the runtime's default configuration (scheduler %s, max_live "
                "%s); runs of %.2g s, medians of %d; raw LMDB baseline with "
                "default sync flags, %.2g s per run; output %s\n\n",
                mode.c_str(), std::thread::hardware_concurrency(),
                load_average().c_str(), tmp.c_str(), filesystem_of(tmp).c_str(),
                sched_name.c_str(),
                fmt_count(annals::runtime_config{}.hosts.max_live).c_str(),
                cfg.seconds, cfg.reps, cfg.raw_seconds, cfg.out_dir.c_str());
    std::fflush(stdout);
    std::optional<series_result> agg, size;
    std::optional<recovery_result> rec;
    auto took = [](clock_type::time_point t0) {
      std::printf("  (%.0f s)\n\n", seconds_between(t0, clock_type::now()));
      std::fflush(stdout);
    };
    if (wants('1')) {
      auto t0 = clock_type::now();
      agg = series_aggregates(cfg);
      took(t0);
    }
    if (wants('2')) {
      auto t0 = clock_type::now();
      size = series_journal_size(cfg);
      took(t0);
    }
    if (wants('3')) {
      auto t0 = clock_type::now();
      rec = series_recovery(cfg);
      print_recovery(*rec, cfg);
      write_recovery_csv(*rec, cfg);
      took(t0);
    }
    print_summary(agg ? &*agg : nullptr, size ? &*size : nullptr,
                  rec ? &*rec : nullptr, mode);
    std::vector<double> probes;
    for (const auto* s : {agg ? &*agg : nullptr, size ? &*size : nullptr}) {
      if (s != nullptr) {
        probes.insert(probes.end(), s->probes.begin(), s->probes.end());
      }
    }
    if (rec) {
      probes.push_back(rec->fsync_ms);
    }
    std::printf("\nCSV: %s/scaling_*.csv\n", cfg.out_dir.c_str());
    if (cfg.plot) {
      char label[96];
      std::snprintf(label, sizeof label, "%s run, %u cores, fsync %s",
                    cfg.quick ? "quick" : "full",
                    std::thread::hardware_concurrency(),
                    fmt_ms(median(probes)).c_str());
      plot(cfg.out_dir, label);
    }
    std::printf("total time %.0f s, load average %s\n",
                seconds_between(bench_start, clock_type::now()),
                load_average().c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "scaling_bench: %s\n", e.what());
    return 1;
  }
}
