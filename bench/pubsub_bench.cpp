// annals -- event-sourced aggregates on the C++ Actor Framework.
//
// pubsub_bench: subscriptions (runtime/include/annals/subscription.hpp) on an
// LMDB journal with fsync on, in a fresh temporary directory per run.
//
// 1. Live latency. An event-based driver sends `sample::note{"", seq}` to
//    100 aggregates at a paced rate (default 2000 commands/s, at most
//    `window` in flight), subscribers (event-based actors answering
//    `event_batch` with `batch_done`) record when each event arrives; `seq`
//    travels in the event's payload and matches the two. The journal under
//    the runtime is wrapped (no change to the runtime) to stamp each commit:
//    `commit start` is taken just before `journal::commit` (i.e. before the
//    events become durable) and `commit end` right after it returns. Printed:
//    commit start -> delivery (the target's definition), commit end ->
//    delivery, ack arrival at the driver -> delivery (negative when the
//    subscriber beats the ack), send -> delivery and send -> ack. With 4 and
//    16 subscribers the same load shows live fan-out; an unpaced run (window
//    full all the time) shows the live delivery rate with 1/4/16
//    subscribers. Every run checks that each subscriber received every
//    acknowledged event exactly once. 1b repeats the paced 1-subscriber run
//    with annals::config's default scheduler beside other CAF scheduler
//    settings (policy, max-threads), interleaved.
//
// 2. Fan-out catch-up. A history (default 200k events, 120-byte payloads,
//    1 event per append over 1000 streams) is written once with
//    `journal::commit` (1000 appends per commit). Then N = 1, 4, 16
//    subscriptions from the beginning start together; each subscriber's rate
//    is history / (its last delivery - subscribe time), the total rate
//    N * history / (last delivery of all - subscribe time). Also N = 1 with
//    batch size 4096.
//
// 3. Catch-up vs scans. The N = 1 catch-up against, in the same repetition:
//    `journal::scan_partition` over all partitions (the journal's own
//    zero-copy scan: index walk, CRC32C, record decode), `journal::scan_log`
//    (the whole log in commit order, which a subscription behind in many
//    partitions reads), the partition scan plus
//    `event_view::to_event` (what the cursor does per event), plus a second
//    copy of each 256-event vector (what `event_batch{id, st.batch}` does),
//    and a raw LMDB cursor scan (MDB_NEXT over table "log" of the same
//    data.mdb, opened read-only after the journal was closed, summing one
//    byte per value), plus a variant that checks each value's CRC32C the
//    way the journal does (the like-for-like baseline). The journal scans
//    run after the actor system is gone, like the raw ones. Each scan gets
//    an untimed pass first (the mapping is fresh after each open) and is
//    then timed 5 times (median). Repetitions interleave all of them. Also
//    printed: the log table's layout and the fixed cost of one
//    `scan_partition` call (what a cursor pays per dirty partition).
//
// Figures are medians of --reps repetitions (default 3). The CAF scheduler
// runs with annals::config's defaults (policy stealing, CAF's max-threads)
// unless --threads / --policy are given.
//
// Usage: pubsub_bench [--quick] [--reps=N] [--seconds=S] [--rate=R]
//          [--window=W] [--history=N] [--batch=B] [--threads=N]
//          [--policy=stealing|sharing] [--verbose]

#include "annals/codec.hpp"
#include "annals/persistence/forwarding_journal.hpp"
#include "annals/persistence/journal.hpp"
#include "annals/runtime.hpp"

#include "bench_scheduler.hpp"
#include "bench_support.hpp"
#include "sample_account.hpp"

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>
#include <lmdb.h>

#include <fcntl.h>
#include <sys/statfs.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

namespace pbench {

using pb_tick_atom = caf::atom_constant<caf::atom("pb_tick")>;
using pb_go_atom = caf::atom_constant<caf::atom("pb_go")>;

} // namespace pbench

namespace {

using namespace annals::bench_support;

using namespace pbench;
using clock_type = std::chrono::steady_clock;

constexpr std::size_t payload_bytes = 120;
constexpr uint32_t history_streams = 1000;
constexpr std::size_t history_commit = 1000;
constexpr std::size_t scan_batch = 256; // default subscription batch size
const char* const history_category = "bench.account";

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
           clock_type::now().time_since_epoch())
    .count();
}

// -- settings -----------------------------------------------------------------

struct settings {
  int reps = 3;
  double seconds = 4.0; ///< measured part of a paced live run
  double warmup = 0.5;  ///< unmeasured start of every live run
  double unpaced_seconds = 2.0;
  double rate = 2000; ///< commands/s of the paced runs
  std::size_t window = 64;
  std::size_t unpaced_window = 512;
  uint32_t aggregates = 100;
  uint64_t history = 200'000;
  std::size_t batch = 256; ///< subscription_options::batch_size
  std::size_t threads = 0; ///< scheduler.max-threads; 0 = CAF's default
  std::string policy; ///< scheduler.policy; empty = annals::config's default
  bool verbose = false;
};

void usage(std::FILE* out) {
  std::fprintf(
    out, "usage: pubsub_bench [--quick] [--reps=N] [--seconds=S] [--rate=R]\n"
         "         [--window=W] [--history=N] [--batch=B] [--threads=N]\n"
         "         [--policy=stealing|sharing] [--verbose]\n"
         "  --quick      1 repetition, 1 s live runs, 50k history (smoke)\n"
         "  --reps=N     repetitions (default 3)\n"
         "  --seconds=S  measured seconds of a paced live run (default 4)\n"
         "  --rate=R     paced load in commands/s (default 2000)\n"
         "  --window=W   most commands in flight, paced (default 64)\n"
         "  --history=N  pre-written events for catch-up (default 200000)\n"
         "  --batch=B    subscription batch size (default 256)\n"
         "  --threads=N  scheduler.max-threads (default: CAF's)\n"
         "  --policy=P   scheduler.policy (default: annals::config's)\n"
         "  --verbose    print every run\n");
}

// -- small helpers ------------------------------------------------------------

std::string cpu_model() {
  std::ifstream in{"/proc/cpuinfo"};
  std::string line;
  while (std::getline(in, line))
    if (line.starts_with("model name")) {
      auto p = line.find(':');
      return p == std::string::npos ? line : line.substr(p + 2);
    }
  return "unknown cpu";
}

/// The CAF config of every actor system of the benchmark. Never parses the
/// command line or an INI file: only what `settings` says applies.
class bench_config : public annals::config {
public:
  explicit bench_config(const settings& s) {
    if (s.threads > 0)
      set("scheduler.max-threads", s.threads);
    if (!s.policy.empty())
      set("scheduler.policy", caf::atom_from_string(s.policy));
  }
};

annals::runtime_config runtime_config_for(const std::string& dir) {
  annals::runtime_config rc;
  rc.data_dir = dir;
  rc.command_timeout = std::chrono::seconds{10};
  return rc; // default journal options: 1024 partitions, fsync
}

std::shared_ptr<annals::journal> open_journal(const std::string& dir) {
  auto j = annals::open_lmdb_journal(dir, annals::journal_options{});
  if (!j)
    throw std::runtime_error("open journal in " + dir + ": "
                             + annals::render(j.error()));
  return std::shared_ptr<annals::journal>{std::move(*j)};
}

/// Waits (polling) until `store` has no other owner than the caller, i.e.
/// the runtime's actors are gone and the journal closes with the last
/// reference.
template <class Journal>
void await_sole_owner(const std::shared_ptr<Journal>& store) {
  auto deadline = clock_type::now() + std::chrono::seconds{10};
  while (store.use_count() > 1) {
    if (clock_type::now() > deadline)
      throw std::runtime_error("the runtime still holds the journal 10 s "
                               "after its actor system was destroyed");
    std::this_thread::sleep_for(std::chrono::milliseconds{1});
  }
}

// -- live runs: the journal wrapper -------------------------------------------

/// Timestamps, indexed by `seq`, of one live run.
struct live_shared {
  live_shared(std::size_t max_seq, std::size_t subscribers)
    : send(max_seq, 0), ack(max_seq, 0), commit_start(max_seq, 0),
      commit_end(max_seq, 0), deliver(subscribers) {
    for (auto& d : deliver)
      d.assign(max_seq, 0);
    for (std::size_t i = 0; i < subscribers; ++i) {
      delivered.push_back(std::make_unique<std::atomic<uint64_t>>(0));
      duplicates.push_back(std::make_unique<std::atomic<uint64_t>>(0));
      batches.push_back(std::make_unique<std::atomic<uint64_t>>(0));
    }
  }
  std::vector<int64_t> send, ack, commit_start, commit_end;
  std::vector<std::vector<int64_t>> deliver;
  std::vector<std::unique_ptr<std::atomic<uint64_t>>> delivered, duplicates,
    batches;
  std::atomic<uint64_t> foreign{0}; ///< undecodable or out-of-range events
  std::atomic<uint64_t> sent{0}, acked{0}, errors{0};
  std::atomic<uint64_t> first_measured{0};
  std::atomic<int64_t> measure_start{0}, measure_end{0};
  std::atomic<bool> driver_done{false};
  // Per commit (writer thread; read after the run).
  std::mutex commit_mtx;
  std::vector<double> commit_ms;
  std::vector<std::size_t> commit_appends;
};

/// Forwards to an LMDB journal and stamps every commit's notes with the time
/// just before and just after the commit (the writer thread calls this).
class timing_journal : public annals::forwarding_journal {
public:
  timing_journal(std::shared_ptr<annals::journal> inner,
                 std::shared_ptr<live_shared> sh)
    : forwarding_journal(std::move(inner)), sh_(std::move(sh)) {
  }

  caf::expected<annals::batch_result>
  commit(const annals::write_batch& b) override {
    // Decode before the clock starts: only stores follow the commit, so
    // the wrapper delays neither the commit nor the wake-up after it.
    seqs_.clear();
    for (const auto& req : b.appends)
      for (const auto& ev : req.events) {
        sample::noted x;
        if (ev.type == sample::noted::type_name
            && !annals::decode(ev.payload.data(), ev.payload.size(), x, "noted")
            && x.seq < sh_->commit_start.size())
          seqs_.push_back(x.seq);
      }
    auto t0 = now_ns();
    auto res = forwarding_journal::commit(b);
    auto t1 = now_ns();
    for (auto seq : seqs_) {
      sh_->commit_start[seq] = t0;
      sh_->commit_end[seq] = t1;
    }
    std::lock_guard guard{sh_->commit_mtx};
    sh_->commit_ms.push_back(static_cast<double>(t1 - t0) / 1e6);
    sh_->commit_appends.push_back(b.appends.size());
    return res;
  }

private:
  std::shared_ptr<live_shared> sh_;
  std::vector<uint64_t> seqs_; ///< the writer thread's scratch
};

// -- live runs: actors --------------------------------------------------------

/// A subscriber of a live run: stamps the arrival of each note.
caf::behavior live_subscriber(caf::event_based_actor*,
                              std::shared_ptr<live_shared> sh,
                              std::size_t idx) {
  return {
    [sh, idx](const annals::event_batch& b) {
      auto t = now_ns();
      auto& d = sh->deliver[idx];
      uint64_t dups = 0;
      uint64_t foreign = 0;
      for (const auto& ev : b.events) {
        sample::noted x;
        if (ev.type != sample::noted::type_name
            || annals::decode(ev.payload.data(), ev.payload.size(), x, "noted")
            || x.seq >= d.size()) {
          ++foreign;
          continue;
        }
        if (d[x.seq] != 0)
          ++dups;
        else
          d[x.seq] = t;
      }
      if (dups > 0)
        *sh->duplicates[idx] += dups;
      if (foreign > 0)
        sh->foreign += foreign;
      ++*sh->batches[idx];
      *sh->delivered[idx] += b.events.size() - foreign;
      return annals::batch_done{static_cast<uint32_t>(b.events.size()), {}};
    },
  };
}

struct live_params {
  double rate = 0; ///< commands/s; 0 = unpaced (keep the window full)
  std::size_t window = 64;
  double warmup = 0.5;
  double seconds = 4;
  std::size_t subscribers = 1;
  uint32_t aggregates = 100;
};

/// Sends notes to the aggregates, paced or unpaced, within a window.
class driver {
public:
  driver(caf::event_based_actor* self, std::shared_ptr<live_shared> sh,
         annals::aggregate_handle<sample::account> h, live_params p)
    : self_(self), sh_(std::move(sh)), h_(std::move(h)), p_(p) {
    for (uint32_t i = 0; i < p_.aggregates; ++i)
      ids_.push_back("acc-" + std::to_string(i));
  }

  void start() {
    t0_ = now_ns();
    warm_end_ = t0_ + static_cast<int64_t>(p_.warmup * 1e9);
    end_ = warm_end_ + static_cast<int64_t>(p_.seconds * 1e9);
    tick();
  }

  void tick() {
    auto now = now_ns();
    if (now >= end_) {
      stop_sending(now);
      return;
    }
    fill(now);
    self_->delayed_send(self_, std::chrono::milliseconds{1},
                        pb_tick_atom::value);
  }

private:
  void fill(int64_t now) {
    uint64_t allowed = sh_->send.size();
    if (p_.rate > 0)
      allowed = std::min<uint64_t>(
        allowed,
        static_cast<uint64_t>(p_.rate * static_cast<double>(now - t0_) / 1e9)
          + 1);
    while (next_ < allowed && in_flight_ < p_.window)
      send_one(now);
  }

  void send_one(int64_t now) {
    auto seq = next_++;
    if (!warm_marked_ && now >= warm_end_) {
      warm_marked_ = true;
      sh_->first_measured = seq;
      sh_->measure_start = now;
    }
    sh_->send[seq] = now_ns();
    ++in_flight_;
    sh_->sent = next_;
    self_
      ->request(h_.actor(), std::chrono::seconds{10},
                h_.make(ids_[seq % ids_.size()], sample::note{"", seq}))
      .then(
        [this, seq](annals::ack&) {
          sh_->ack[seq] = now_ns();
          ++sh_->acked;
          on_reply();
        },
        [this](caf::error& err) {
          if (sh_->errors++ == 0)
            std::fprintf(stderr, "pubsub_bench: command failed: %s\n",
                         annals::render(err).c_str());
          on_reply();
        });
  }

  void on_reply() {
    --in_flight_;
    if (sending_) {
      if (p_.rate <= 0)
        fill(now_ns());
    } else if (in_flight_ == 0) {
      finish();
    }
  }

  void stop_sending(int64_t now) {
    if (!sending_)
      return;
    sending_ = false;
    sh_->measure_end = now;
    if (!warm_marked_) {
      warm_marked_ = true;
      sh_->first_measured = next_;
      sh_->measure_start = now;
    }
    if (in_flight_ == 0)
      finish();
  }

  void finish() {
    sh_->driver_done = true;
    self_->quit();
  }

  caf::event_based_actor* self_;
  std::shared_ptr<live_shared> sh_;
  annals::aggregate_handle<sample::account> h_;
  live_params p_;
  std::vector<std::string> ids_;
  int64_t t0_ = 0, warm_end_ = 0, end_ = 0;
  uint64_t next_ = 0;
  std::size_t in_flight_ = 0;
  bool sending_ = true;
  bool warm_marked_ = false;
};

caf::behavior driver_actor(caf::event_based_actor* self,
                           std::shared_ptr<live_shared> sh,
                           annals::aggregate_handle<sample::account> h,
                           live_params p) {
  auto d = std::make_shared<driver>(self, std::move(sh), std::move(h), p);
  return {
    [d](pb_go_atom) { d->start(); },
    [d](pb_tick_atom) { d->tick(); },
  };
}

// -- live runs: measuring -----------------------------------------------------

struct pct {
  double p50 = 0, p99 = 0, p999 = 0, max = 0;
};

pct percentiles_of(std::vector<double> xs) {
  std::sort(xs.begin(), xs.end());
  if (xs.empty())
    return {};
  return {percentile(xs, 0.5), percentile(xs, 0.99), percentile(xs, 0.999),
          xs.back()};
}

enum latency_kind : std::size_t {
  from_commit_start, ///< commit start -> delivery
  from_commit_end,   ///< commit end -> delivery
  from_ack,          ///< ack arrival -> delivery
  from_send,         ///< send -> delivery
  send_to_ack,       ///< send -> ack (command latency)
  latency_kinds
};

const char* const latency_names[latency_kinds]
  = {"commit start->delivery", "commit end->delivery", "ack->delivery",
     "send->delivery", "send->ack (command)"};

struct live_result {
  double fsync_ms = 0;
  double seconds = 0;    ///< measured window
  uint64_t measured = 0; ///< commands sent in it
  uint64_t acked = 0;    ///< all acked commands
  uint64_t errors = 0;   ///< failed commands
  uint64_t missing = 0;  ///< acked events some subscriber never received
  uint64_t duplicates = 0;
  uint64_t foreign = 0;
  double ack_before_delivery = 0; ///< share of deliveries after the ack
  pct lat[latency_kinds];
  double commit_p50_ms = 0, commit_p99_ms = 0, appends_per_commit = 0;
  double events_per_batch = 0; ///< per delivered event_batch
  double rate() const {
    return seconds > 0 ? static_cast<double>(measured) / seconds : 0;
  }
};

live_result run_live(const settings& cfg, const live_params& p) {
  temp_dir dir;
  live_result out;
  out.fsync_ms = probe_fsync_ms(dir.path());
  std::size_t max_seq
    = p.rate > 0
        ? static_cast<std::size_t>(p.rate * (p.warmup + p.seconds) * 1.2)
            + p.window + 1000
        : std::size_t{400'000};
  auto sh = std::make_shared<live_shared>(max_seq, p.subscribers);
  auto store = std::make_shared<timing_journal>(open_journal(dir.path()), sh);
  {
    bench_config conf{cfg};
    caf::actor_system sys{conf};
    auto rt
      = annals::runtime::start(sys, runtime_config_for(dir.path()), store);
    auto accounts = rt->host<sample::account>();
    std::vector<caf::actor> subs;
    for (std::size_t i = 0; i < p.subscribers; ++i) {
      subs.push_back(sys.spawn(live_subscriber, sh, i));
      annals::subscription_options opts;
      opts.batch_size = cfg.batch;
      rt->subscribe(subs.back(), opts); // a fresh journal: from the beginning
    }
    auto drv = sys.spawn(driver_actor, sh, accounts, p);
    caf::anon_send(drv, pb_go_atom::value);
    auto limit = std::chrono::duration<double>(p.warmup + p.seconds + 30);
    auto deadline = clock_type::now()
                    + std::chrono::duration_cast<clock_type::duration>(limit);
    while (!sh->driver_done && clock_type::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds{2});
    if (!sh->driver_done) {
      caf::anon_send_exit(drv, caf::exit_reason::user_shutdown);
      throw std::runtime_error("live run: the driver did not finish");
    }
    // Every acknowledged event must reach every subscriber.
    auto acked = sh->acked.load();
    auto all_in = [&] {
      for (const auto& d : sh->delivered)
        if (d->load() < acked)
          return false;
      return true;
    };
    auto wait_until = clock_type::now() + std::chrono::seconds{10};
    while (!all_in() && clock_type::now() < wait_until)
      std::this_thread::sleep_for(std::chrono::milliseconds{2});
    // Let stragglers (duplicates) show up.
    std::this_thread::sleep_for(std::chrono::milliseconds{20});
    rt.reset();
    for (auto& s : subs)
      caf::anon_send_exit(s, caf::exit_reason::user_shutdown);
  }
  // The actor system is gone: every timestamp is final.
  await_sole_owner(store);
  store.reset(); // closes the journal before its directory goes
  auto first = sh->first_measured.load();
  auto sent = sh->sent.load();
  out.seconds
    = static_cast<double>(sh->measure_end.load() - sh->measure_start.load())
      / 1e9;
  out.measured = sent > first ? sent - first : 0;
  out.acked = sh->acked;
  out.errors = sh->errors;
  out.foreign = sh->foreign;
  std::vector<double> lat[latency_kinds];
  uint64_t after_ack = 0, pairs = 0;
  for (uint64_t s = 0; s < sent; ++s) {
    if (sh->ack[s] == 0)
      continue; // failed command: nothing was written
    for (std::size_t i = 0; i < p.subscribers; ++i)
      if (sh->deliver[i][s] == 0)
        ++out.missing;
    if (s < first)
      continue;
    auto ms
      = [](int64_t a, int64_t b) { return static_cast<double>(b - a) / 1e6; };
    lat[send_to_ack].push_back(ms(sh->send[s], sh->ack[s]));
    for (std::size_t i = 0; i < p.subscribers; ++i) {
      auto d = sh->deliver[i][s];
      if (d == 0)
        continue;
      ++pairs;
      if (d >= sh->ack[s])
        ++after_ack;
      lat[from_send].push_back(ms(sh->send[s], d));
      lat[from_ack].push_back(ms(sh->ack[s], d));
      if (sh->commit_start[s] != 0) {
        lat[from_commit_start].push_back(ms(sh->commit_start[s], d));
        lat[from_commit_end].push_back(ms(sh->commit_end[s], d));
      }
    }
  }
  for (std::size_t k = 0; k < latency_kinds; ++k)
    out.lat[k] = percentiles_of(std::move(lat[k]));
  out.ack_before_delivery
    = pairs > 0 ? static_cast<double>(after_ack) / static_cast<double>(pairs)
                : 0;
  uint64_t batches = 0, delivered = 0;
  for (std::size_t i = 0; i < p.subscribers; ++i) {
    out.duplicates += *sh->duplicates[i];
    batches += *sh->batches[i];
    delivered += *sh->delivered[i];
  }
  out.events_per_batch = batches > 0 ? static_cast<double>(delivered)
                                         / static_cast<double>(batches)
                                     : 0;
  auto cms = sh->commit_ms;
  std::sort(cms.begin(), cms.end());
  out.commit_p50_ms = percentile(cms, 0.5);
  out.commit_p99_ms = percentile(cms, 0.99);
  std::size_t appends = 0;
  for (auto n : sh->commit_appends)
    appends += n;
  out.appends_per_commit
    = sh->commit_appends.empty()
        ? 0
        : static_cast<double>(appends)
            / static_cast<double>(sh->commit_appends.size());
  return out;
}

// -- catch-up: history, subscribers, scans ------------------------------------

std::vector<std::byte> payload_of(uint64_t n) {
  std::vector<std::byte> out(payload_bytes);
  for (std::size_t i = 0; i < out.size(); ++i)
    out[i] = static_cast<std::byte>((n * 131 + i * 7) & 0xff);
  return out;
}

/// Writes `events` events, 1 per append, round-robin over the streams,
/// `history_commit` appends per commit. @returns seconds taken.
double write_history(annals::journal& store, uint64_t events) {
  auto t0 = clock_type::now();
  uint64_t n = 0;
  while (n < events) {
    annals::write_batch wb;
    for (std::size_t i = 0; i < history_commit && n < events; ++i, ++n) {
      annals::append_request req;
      char id[16];
      std::snprintf(id, sizeof id, "s%07u",
                    static_cast<unsigned>(n % history_streams));
      req.stream = {history_category, id};
      annals::event_data ev;
      ev.type = "bench.event";
      ev.payload = payload_of(n);
      req.events.push_back(std::move(ev));
      wb.appends.push_back(std::move(req));
    }
    auto res = store.commit(wb);
    if (!res)
      throw std::runtime_error("write history: " + annals::render(res.error()));
    for (auto& r : res->appends)
      if (!r)
        throw std::runtime_error("write history: " + annals::render(r.error()));
  }
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

struct catchup_shared {
  uint64_t target = 0;
  std::atomic<uint64_t> count{0};
  std::atomic<int64_t> done_ns{0};
  std::atomic<uint64_t> batches{0};
  uint64_t checksum = 0; ///< touched by the subscriber only
};

/// A subscriber that counts events and touches one payload byte of each.
caf::behavior counting_subscriber(caf::event_based_actor*,
                                  std::shared_ptr<catchup_shared> sh) {
  return {
    [sh](const annals::event_batch& b) {
      uint64_t sum = 0;
      for (const auto& ev : b.events)
        sum += ev.pos
               + (ev.payload.empty()
                    ? 0
                    : std::to_integer<uint64_t>(ev.payload.front()));
      sh->checksum += sum;
      ++sh->batches;
      auto n = sh->count += b.events.size();
      if (n >= sh->target && sh->done_ns == 0)
        sh->done_ns = now_ns();
      return annals::batch_done{static_cast<uint32_t>(b.events.size()), {}};
    },
  };
}

struct fanout_result {
  double per_sub_median = 0; ///< events/s of the median subscriber
  double per_sub_min = 0;
  double total = 0; ///< N * history / time of the last
  double events_per_batch = 0;
};

/// N subscriptions from the beginning, started together.
fanout_result run_fanout(caf::actor_system& sys, annals::runtime& rt,
                         std::size_t n, uint64_t history, std::size_t batch) {
  std::vector<std::shared_ptr<catchup_shared>> shs;
  std::vector<caf::actor> actors;
  std::vector<annals::subscription> subs;
  for (std::size_t i = 0; i < n; ++i) {
    shs.push_back(std::make_shared<catchup_shared>());
    shs.back()->target = history;
    actors.push_back(sys.spawn(counting_subscriber, shs.back()));
  }
  auto t0 = now_ns();
  for (std::size_t i = 0; i < n; ++i) {
    annals::subscription_options opts;
    opts.batch_size = batch;
    subs.push_back(rt.subscribe(actors[i], opts));
  }
  auto deadline = clock_type::now() + std::chrono::seconds{120};
  auto all_done = [&] {
    for (auto& s : shs)
      if (s->done_ns == 0)
        return false;
    return true;
  };
  while (!all_done() && clock_type::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds{1});
  bool ok = all_done();
  // Nothing beyond the history may arrive (no duplicates).
  std::this_thread::sleep_for(std::chrono::milliseconds{5});
  for (auto& s : subs)
    s.cancel();
  for (auto& a : actors)
    caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
  if (!ok)
    throw std::runtime_error("catch-up with " + std::to_string(n)
                             + " subscribers did not finish within 120 s");
  fanout_result out;
  std::vector<double> rates;
  int64_t last = 0;
  uint64_t batches = 0;
  for (auto& s : shs) {
    if (s->count != history)
      throw std::runtime_error(
        "catch-up: a subscriber received " + std::to_string(s->count.load())
        + " events of a history of " + std::to_string(history));
    auto dt = static_cast<double>(s->done_ns - t0) / 1e9;
    rates.push_back(static_cast<double>(history) / dt);
    last = std::max<int64_t>(last, s->done_ns);
    batches += s->batches;
  }
  out.per_sub_median = median(rates);
  out.per_sub_min = *std::min_element(rates.begin(), rates.end());
  out.total
    = static_cast<double>(n * history) / (static_cast<double>(last - t0) / 1e9);
  out.events_per_batch = static_cast<double>(n * history)
                         / static_cast<double>(std::max<uint64_t>(1, batches));
  return out;
}

/// The fixed cost of one `scan_partition` call (read transaction, cursor,
/// seek): microseconds per call, scanning every partition from its end.
double empty_scan_us(const annals::journal& store) {
  auto ends = store.partition_ends();
  if (!ends)
    throw std::runtime_error("partition_ends: " + annals::render(ends.error()));
  std::vector<double> us;
  for (int pass = 0; pass < 4; ++pass) {
    uint64_t n = 0;
    auto t0 = clock_type::now();
    for (annals::partition_id p = 0; p < store.partition_count(); ++p)
      if (auto err = store.scan_partition(p, (*ends)[p] + 1,
                                          [&](const annals::event_view&) {
                                            ++n;
                                            return true;
                                          }))
        throw std::runtime_error("scan_partition: " + annals::render(err));
    auto dt = std::chrono::duration<double, std::micro>(clock_type::now() - t0)
                .count();
    if (n != 0)
      throw std::runtime_error("empty scan found events");
    if (pass > 0) // the first one warms up
      us.push_back(dt / store.partition_count());
  }
  return median(us);
}

/// Median events/s of 5 timed passes of `pass` (after one untimed pass);
/// `pass` returns the number of events it visited.
template <class F>
double timed_scan(F pass, uint64_t expect, const char* what) {
  pass(); // warm the fresh mapping
  std::vector<double> rates;
  for (int i = 0; i < 5; ++i) {
    auto t0 = clock_type::now();
    auto n = pass();
    auto dt = std::chrono::duration<double>(clock_type::now() - t0).count();
    if (n != expect)
      throw std::runtime_error(std::string{what} + " visited "
                               + std::to_string(n) + " events, expected "
                               + std::to_string(expect));
    rates.push_back(static_cast<double>(n) / dt);
  }
  return median(rates);
}

volatile uint64_t sink; // keeps the scans' sums alive

uint64_t journal_scan(const annals::journal& store) {
  uint64_t n = 0, sum = 0;
  for (annals::partition_id p = 0; p < store.partition_count(); ++p) {
    auto err = store.scan_partition(p, 1, [&](const annals::event_view& v) {
      ++n;
      sum
        += v.pos
           + (v.payload_size > 0 ? std::to_integer<uint64_t>(v.payload[0]) : 0);
      return true;
    });
    if (err)
      throw std::runtime_error("scan_partition: " + annals::render(err));
  }
  sink = sum;
  return n;
}

/// The journal's sequential read of everything: `scan_log` in commit order
/// (what a subscription catching up many partitions does).
uint64_t journal_log_scan(const annals::journal& store) {
  uint64_t n = 0, sum = 0;
  auto err = store.scan_log(1, [&](uint64_t, const annals::event_view& v) {
    ++n;
    sum += v.pos
           + (v.payload_size > 0 ? std::to_integer<uint64_t>(v.payload[0]) : 0);
    return true;
  });
  if (err)
    throw std::runtime_error("scan_log: " + annals::render(err));
  sink = sum;
  return n;
}

/// The journal scan plus what the cursor does per event: `to_event` into a
/// batch vector; with `second_copy`, also the copy of each full batch that
/// the cursor makes for its `event_batch` message.
uint64_t journal_scan_copying(const annals::journal& store, bool second_copy) {
  uint64_t n = 0, sum = 0;
  std::vector<annals::recorded_event> batch;
  batch.reserve(scan_batch);
  auto flush = [&] {
    if (second_copy) {
      std::vector<annals::recorded_event> copy = batch;
      sum += copy.back().pos + copy.size();
    }
    batch.clear();
  };
  for (annals::partition_id p = 0; p < store.partition_count(); ++p) {
    auto err = store.scan_partition(p, 1, [&](const annals::event_view& v) {
      ++n;
      batch.push_back(v.to_event());
      const auto& ev = batch.back();
      sum += ev.pos + std::to_integer<uint64_t>(ev.payload.front());
      if (batch.size() >= scan_batch)
        flush();
      return true;
    });
    if (err)
      throw std::runtime_error("scan_partition: " + annals::render(err));
  }
  if (!batch.empty())
    flush();
  sink = sum;
  return n;
}

void mdb_check(int rc, const char* what) {
  if (rc != 0)
    throw std::runtime_error(std::string{what} + ": " + mdb_strerror(rc));
}

#if defined(__x86_64__)
/// CRC32C with SSE4.2, as the journal computes it over a record (all bytes
/// after the 4-byte stored checksum).
__attribute__((target("sse4.2"))) uint32_t crc32c_hw(const unsigned char* p,
                                                     std::size_t n) {
  uint64_t c = 0xffffffffu;
  while (n >= 8) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    c = _mm_crc32_u64(c, v);
    p += 8;
    n -= 8;
  }
  auto c32 = static_cast<uint32_t>(c);
  while (n > 0) {
    c32 = _mm_crc32_u8(c32, *p++);
    --n;
  }
  return ~c32;
}
const bool have_crc_hw = __builtin_cpu_supports("sse4.2");
#else
uint32_t crc32c_hw(const unsigned char*, std::size_t) {
  return 0;
}
const bool have_crc_hw = false;
#endif

/// Raw LMDB: MDB_NEXT over the journal's "log" table, read-only.
class raw_log {
public:
  explicit raw_log(const std::string& dir) {
    mdb_check(mdb_env_create(&env_), "mdb_env_create");
    mdb_env_set_maxdbs(env_, 16);
    mdb_check(mdb_env_open(env_, dir.c_str(), MDB_RDONLY, 0644),
              "mdb_env_open (read-only)");
    MDB_txn* txn = nullptr;
    mdb_check(mdb_txn_begin(env_, nullptr, MDB_RDONLY, &txn), "begin");
    auto rc = mdb_dbi_open(txn, "log", 0, &dbi_);
    if (rc != 0) {
      mdb_txn_abort(txn);
      mdb_check(rc, "open table log");
    }
    // Committing keeps the handle open (aborting would close it).
    mdb_check(mdb_txn_commit(txn), "commit after opening table log");
  }
  raw_log(const raw_log&) = delete;
  raw_log& operator=(const raw_log&) = delete;
  ~raw_log() {
    mdb_env_close(env_);
  }

  /// Sums one byte of each value, or with `verify` checks each value's
  /// CRC32C like the journal does (the stored checksum is the value's first
  /// 4 bytes, little endian).
  uint64_t scan(bool verify) const {
    MDB_txn* txn = nullptr;
    mdb_check(mdb_txn_begin(env_, nullptr, MDB_RDONLY, &txn), "begin");
    MDB_cursor* cur = nullptr;
    auto rc = mdb_cursor_open(txn, dbi_, &cur);
    if (rc != 0) {
      mdb_txn_abort(txn);
      mdb_check(rc, "cursor");
    }
    uint64_t n = 0, sum = 0;
    MDB_val k, v;
    rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    while (rc == 0) {
      ++n;
      auto bytes = static_cast<const unsigned char*>(v.mv_data);
      if (verify) {
        if (v.mv_size < 5)
          throw std::runtime_error("raw scan: short record");
        uint32_t stored = 0;
        for (int i = 3; i >= 0; --i)
          stored = (stored << 8) | bytes[i];
        if (crc32c_hw(bytes + 4, v.mv_size - 4) != stored)
          throw std::runtime_error("raw scan: checksum mismatch (the "
                                   "baseline's CRC32C is wrong)");
        sum += stored;
      } else if (v.mv_size > 0) {
        sum += bytes[v.mv_size / 2];
      }
      rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    if (rc != MDB_NOTFOUND)
      mdb_check(rc, "MDB_NEXT");
    sink = sum;
    return n;
  }

  /// One line about the "log" table: records, value size, pages.
  std::string describe() const {
    MDB_txn* txn = nullptr;
    mdb_check(mdb_txn_begin(env_, nullptr, MDB_RDONLY, &txn), "begin");
    MDB_stat st;
    auto rc = mdb_stat(txn, dbi_, &st);
    MDB_cursor* cur = nullptr;
    if (rc == 0)
      rc = mdb_cursor_open(txn, dbi_, &cur);
    if (rc != 0) {
      mdb_txn_abort(txn);
      mdb_check(rc, "mdb_stat");
    }
    uint64_t n = 0, bytes = 0;
    MDB_val k, v;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
      ++n;
      bytes += k.mv_size + v.mv_size;
    }
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    MDB_envinfo info;
    mdb_env_info(env_, &info);
    char buf[320];
    std::snprintf(
      buf, sizeof buf,
      "table log: %zu records, %.0f bytes per key+value, %zu leaf pages of "
      "%u B (%.1f records/page), depth %u; data.mdb uses %.0f MiB",
      st.ms_entries,
      n > 0 ? static_cast<double>(bytes) / static_cast<double>(n) : 0.0,
      st.ms_leaf_pages, st.ms_psize,
      st.ms_leaf_pages > 0 ? static_cast<double>(st.ms_entries)
                               / static_cast<double>(st.ms_leaf_pages)
                           : 0.0,
      st.ms_depth,
      static_cast<double>(info.me_last_pgno + 1) * st.ms_psize / 1048576.0);
    return buf;
  }

private:
  MDB_env* env_ = nullptr;
  MDB_dbi dbi_ = 0;
};

// -- catch-up repetition ------------------------------------------------------

enum scan_kind : std::size_t {
  catchup_1,       ///< one subscriber catching up
  journal_plain,   ///< scan_partition over all partitions
  journal_log,     ///< scan_log: the whole log in commit order
  journal_to_evt,  ///< + to_event per event
  journal_2copies, ///< + copy of each batch
  raw_one_byte,    ///< raw LMDB MDB_NEXT, one byte per value
  raw_crc,         ///< raw LMDB MDB_NEXT + CRC32C of each value
  scan_kinds
};

const char* const scan_names[scan_kinds]
  = {"catch-up, 1 subscriber",    "journal scan_partition",
     "journal scan_log",          "  + to_event per event",
     "  + copy of each batch",    "raw LMDB MDB_NEXT (1 byte)",
     "raw LMDB MDB_NEXT + CRC32C"};

const std::size_t fanouts[] = {1, 4, 16};
constexpr std::size_t fanout_count = std::size(fanouts);

struct catchup_rep {
  std::string layout;
  double scan[scan_kinds] = {};
  double empty_scan_us = 0; ///< one scan_partition call that finds nothing
  fanout_result fan[fanout_count];
  fanout_result big_batch; ///< 1 subscriber, batch size 4096
};

catchup_rep run_catchup_rep(const settings& cfg, const std::string& dir) {
  catchup_rep out;
  {
    auto store = open_journal(dir);
    {
      bench_config conf{cfg};
      caf::actor_system sys{conf};
      auto rt = annals::runtime::start(sys, runtime_config_for(dir), store);
      // Warm the fresh mapping like the scans' untimed pass does.
      journal_scan(*store);
      for (std::size_t i = 0; i < fanout_count; ++i) {
        out.fan[i] = run_fanout(sys, *rt, fanouts[i], cfg.history, cfg.batch);
        if (cfg.verbose)
          std::printf("  [catch-up N=%zu] per subscriber median %s ev/s, min "
                      "%s, total %s ev/s, %.0f events/batch\n",
                      fanouts[i], fmt_rate(out.fan[i].per_sub_median).c_str(),
                      fmt_rate(out.fan[i].per_sub_min).c_str(),
                      fmt_rate(out.fan[i].total).c_str(),
                      out.fan[i].events_per_batch);
      }
      out.scan[catchup_1] = out.fan[0].total;
      out.big_batch = run_fanout(sys, *rt, 1, cfg.history, 4096);
      rt.reset();
    }
    // The scans run like the raw ones: no actor system (no idle scheduler
    // threads polling for work) in the process.
    await_sole_owner(store);
    out.empty_scan_us = empty_scan_us(*store);
    out.scan[journal_plain] = timed_scan([&] { return journal_scan(*store); },
                                         cfg.history, "journal scan");
    out.scan[journal_log] = timed_scan([&] { return journal_log_scan(*store); },
                                       cfg.history, "journal scan_log");
    out.scan[journal_to_evt]
      = timed_scan([&] { return journal_scan_copying(*store, false); },
                   cfg.history, "journal scan + to_event");
    out.scan[journal_2copies]
      = timed_scan([&] { return journal_scan_copying(*store, true); },
                   cfg.history, "journal scan + 2 copies");
  } // the journal is closed here
  raw_log raw{dir};
  out.layout = raw.describe();
  out.scan[raw_one_byte]
    = timed_scan([&] { return raw.scan(false); }, cfg.history, "raw scan");
  if (have_crc_hw)
    out.scan[raw_crc] = timed_scan([&] { return raw.scan(true); }, cfg.history,
                                   "raw scan + CRC32C");
  return out;
}

// -- printing -----------------------------------------------------------------

void print_live(const char* label, const std::vector<live_result>& runs,
                bool show_all) {
  auto med = [&](auto get) {
    std::vector<double> xs;
    for (const auto& r : runs)
      xs.push_back(get(r));
    return median(xs);
  };
  auto range = [&](auto get) {
    double lo = 1e300, hi = -1e300;
    for (const auto& r : runs) {
      lo = std::min(lo, get(r));
      hi = std::max(hi, get(r));
    }
    return std::make_pair(lo, hi);
  };
  uint64_t missing = 0, dups = 0, errors = 0, foreign = 0;
  for (const auto& r : runs) {
    missing += r.missing;
    dups += r.duplicates;
    errors += r.errors;
    foreign += r.foreign;
  }
  std::printf("%s: %s cmd/s measured, commit p50 %s p99 %s, %.1f appends/"
              "commit, %.1f events/delivered batch, fsync probe %s\n",
              label, fmt_rate(med([](auto& r) { return r.rate(); })).c_str(),
              fmt_ms(med([](auto& r) { return r.commit_p50_ms; })).c_str(),
              fmt_ms(med([](auto& r) { return r.commit_p99_ms; })).c_str(),
              med([](auto& r) { return r.appends_per_commit; }),
              med([](auto& r) { return r.events_per_batch; }),
              fmt_ms(med([](auto& r) { return r.fsync_ms; })).c_str());
  for (std::size_t k = 0; k < latency_kinds; ++k) {
    if (!show_all && k != from_commit_start && k != from_ack)
      continue;
    auto [lo, hi] = range([k](auto& r) { return r.lat[k].p99; });
    std::printf("  %-23s p50 %8s  p99 %8s  p99.9 %8s  max %8s  (p99 range "
                "%s..%s)\n",
                latency_names[k],
                fmt_ms(med([k](auto& r) { return r.lat[k].p50; })).c_str(),
                fmt_ms(med([k](auto& r) { return r.lat[k].p99; })).c_str(),
                fmt_ms(med([k](auto& r) { return r.lat[k].p999; })).c_str(),
                fmt_ms(med([k](auto& r) { return r.lat[k].max; })).c_str(),
                fmt_ms(lo).c_str(), fmt_ms(hi).c_str());
  }
  std::printf("  deliveries after the ack: %.0f%%; check: %llu missing, %llu "
              "duplicate, %llu foreign events, %llu failed commands\n",
              100 * med([](auto& r) { return r.ack_before_delivery; }),
              static_cast<unsigned long long>(missing),
              static_cast<unsigned long long>(dups),
              static_cast<unsigned long long>(foreign),
              static_cast<unsigned long long>(errors));
}

void print_verbose_live(const char* label, const live_result& r) {
  std::printf(
    "  [%s] %llu cmds in %.2f s (%s/s), commit start->delivery p50 "
    "%s p99 %s p99.9 %s, ack->delivery p50 %s p99 %s, commit p50 "
    "%s, %.1f appends/commit, fsync %s\n",
    label, static_cast<unsigned long long>(r.measured), r.seconds,
    fmt_rate(r.rate()).c_str(), fmt_ms(r.lat[from_commit_start].p50).c_str(),
    fmt_ms(r.lat[from_commit_start].p99).c_str(),
    fmt_ms(r.lat[from_commit_start].p999).c_str(),
    fmt_ms(r.lat[from_ack].p50).c_str(), fmt_ms(r.lat[from_ack].p99).c_str(),
    fmt_ms(r.commit_p50_ms).c_str(), r.appends_per_commit,
    fmt_ms(r.fsync_ms).c_str());
}

} // namespace

int main(int argc, char** argv) {
  settings cfg;
  std::optional<int> reps;
  std::optional<double> seconds;
  std::optional<uint64_t> history;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg{argv[i]};
    auto eq = arg.find('=');
    auto key = eq == std::string_view::npos ? arg : arg.substr(0, eq + 1);
    const char* v = eq == std::string_view::npos ? "" : argv[i] + eq + 1;
    if (arg == "--quick") {
      cfg.reps = 1;
      cfg.seconds = 1.0;
      cfg.warmup = 0.3;
      cfg.unpaced_seconds = 0.7;
      cfg.history = 50'000;
    } else if (key == "--reps=") {
      reps = std::atoi(v);
    } else if (key == "--seconds=") {
      seconds = std::atof(v);
    } else if (key == "--rate=") {
      cfg.rate = std::atof(v);
    } else if (key == "--window=") {
      cfg.window = std::strtoull(v, nullptr, 10);
    } else if (key == "--history=") {
      history = std::strtoull(v, nullptr, 10);
    } else if (key == "--batch=") {
      cfg.batch = std::strtoull(v, nullptr, 10);
    } else if (key == "--threads=") {
      cfg.threads = std::strtoull(v, nullptr, 10);
    } else if (key == "--policy=") {
      cfg.policy = v;
    } else if (arg == "--verbose") {
      cfg.verbose = true;
    } else if (arg == "--help" || arg == "-h") {
      usage(stdout);
      return 0;
    } else {
      std::fprintf(stderr, "pubsub_bench: unknown argument %s\n", argv[i]);
      usage(stderr);
      return 2;
    }
  }
  // Explicit values win over --quick, whatever the order.
  cfg.reps = reps.value_or(cfg.reps);
  cfg.seconds = seconds.value_or(cfg.seconds);
  cfg.history = history.value_or(cfg.history);
  if (cfg.reps < 1 || !(cfg.seconds > 0) || !(cfg.rate > 0) || cfg.window < 1
      || cfg.history < 1 || cfg.batch < 1) {
    std::fprintf(stderr, "pubsub_bench: --reps, --seconds, --rate, --window, "
                         "--history and --batch must be > 0\n");
    return 2;
  }
  if (!cfg.policy.empty() && cfg.policy != "stealing"
      && cfg.policy != "sharing") {
    std::fprintf(stderr, "pubsub_bench: --policy must be stealing or "
                         "sharing\n");
    return 2;
  }
  try {
    auto t_start = clock_type::now();
    auto tmp = std::filesystem::temp_directory_path().string();
    struct utsname un;
    ::uname(&un);
    std::printf("pubsub_bench: %s, nproc=%u, Linux %s, temp dir %s (%s), "
                "fsync on, load average %s\n",
                cpu_model().c_str(), std::thread::hardware_concurrency(),
                un.release, tmp.c_str(), filesystem_of(tmp).c_str(),
                load_average().c_str());
    {
      bench_config conf{cfg};
      caf::actor_system sys{conf};
      std::printf(
        "CAF %d.%d.%d, scheduler %s (%s); journal: default options (1024 "
        "partitions, fsync); subscription batch size %zu; %d repetition%s, "
        "medians\n\n",
        CAF_VERSION / 10000, CAF_VERSION / 100 % 100, CAF_VERSION % 100,
        scheduler_of(sys).c_str(),
        cfg.policy.empty() && cfg.threads == 0 ? "annals::config's default"
                                               : "--policy / --threads",
        cfg.batch, cfg.reps, cfg.reps == 1 ? "" : "s");
    }
    std::fflush(stdout);

    // -- 1. live latency and live fan-out -----------------------------------
    std::printf("1. live: %u aggregates, sample::note commands from one "
                "event-based driver; paced %s cmd/s (window %zu) for %.1f s "
                "after a %.1f s warm-up; unpaced = window %zu kept full for "
                "%.1f s; fresh journal per run\n",
                cfg.aggregates, fmt_rate(cfg.rate).c_str(), cfg.window,
                cfg.seconds, cfg.warmup, cfg.unpaced_window,
                cfg.unpaced_seconds);
    std::fflush(stdout);
    struct live_cell {
      const char* label;
      live_params p;
    };
    std::vector<live_cell> cells;
    for (std::size_t n : {std::size_t{1}, std::size_t{4}, std::size_t{16}}) {
      live_params p;
      p.rate = cfg.rate;
      p.window = cfg.window;
      p.warmup = cfg.warmup;
      p.seconds = cfg.seconds;
      p.subscribers = n;
      p.aggregates = cfg.aggregates;
      cells.push_back({n == 1   ? "paced, 1 subscriber"
                       : n == 4 ? "paced, 4 subscribers"
                                : "paced, 16 subscribers",
                       p});
    }
    for (std::size_t n : {std::size_t{1}, std::size_t{4}, std::size_t{16}}) {
      live_params p;
      p.rate = 0;
      p.window = cfg.unpaced_window;
      p.warmup = cfg.warmup;
      p.seconds = cfg.unpaced_seconds;
      p.subscribers = n;
      p.aggregates = cfg.aggregates;
      cells.push_back({n == 1   ? "unpaced, 1 subscriber"
                       : n == 4 ? "unpaced, 4 subscribers"
                                : "unpaced, 16 subscribers",
                       p});
    }
    std::vector<std::vector<live_result>> live(cells.size());
    for (int rep = 0; rep < cfg.reps; ++rep)
      for (std::size_t c = 0; c < cells.size(); ++c) {
        live[c].push_back(run_live(cfg, cells[c].p));
        if (cfg.verbose) {
          print_verbose_live(cells[c].label, live[c].back());
          std::fflush(stdout);
        }
      }
    for (std::size_t c = 0; c < cells.size(); ++c) {
      print_live(cells[c].label, live[c], c == 0);
      if (cells[c].p.rate <= 0) {
        std::vector<double> rates;
        for (const auto& r : live[c])
          rates.push_back(r.rate());
        auto n = cells[c].p.subscribers;
        std::printf("  live fan-out: %s events/s per subscriber, %s events/s "
                    "delivered in total\n",
                    fmt_rate(median(rates)).c_str(),
                    fmt_rate(median(rates) * static_cast<double>(n)).c_str());
      }
    }
    auto med_live = [](const std::vector<live_result>& rs, auto get) {
      std::vector<double> xs;
      for (const auto& r : rs)
        xs.push_back(get(r));
      return median(xs);
    };
    auto p99
      = med_live(live[0], [](auto& r) { return r.lat[from_commit_start].p99; });
    std::printf(
      "target commit->subscriber p99 <= 2 ms (paced, 1 subscriber):"
      " commit start->delivery p99 %s: %s; ack->delivery p99 %s\n",
      fmt_ms(p99).c_str(), p99 <= 2.0 ? "met" : "MISSED",
      fmt_ms(med_live(live[0], [](auto& r) { return r.lat[from_ack].p99; }))
        .c_str());
    std::printf("load average %s\n\n", load_average().c_str());
    std::fflush(stdout);

    // -- 1b. scheduler settings ---------------------------------------------
    struct variant {
      const char* label;
      std::size_t threads;
      const char* policy;
    };
    // The first row is what a user who changes nothing gets.
    const variant variants[] = {{"annals default", 0, ""},
                                {"stealing, max-threads=2", 2, "stealing"},
                                {"policy=sharing", 0, "sharing"},
                                {"sharing, max-threads=2", 2, "sharing"}};
    live_params vp = cells[0].p;
    vp.seconds = std::max(1.0, cfg.seconds * 0.75);
    std::string default_sched;
    {
      bench_config plain{settings{}};
      caf::actor_system probe{plain};
      default_sched = scheduler_of(probe);
    }
    std::printf("1b. scheduler settings, paced 1 subscriber (%.1f s runs, "
                "variants interleaved; annals default = %s):\n",
                vp.seconds, default_sched.c_str());
    std::vector<std::vector<live_result>> vres(std::size(variants));
    for (int rep = 0; rep < cfg.reps; ++rep)
      for (std::size_t v = 0; v < std::size(variants); ++v) {
        settings vc = cfg;
        vc.threads = variants[v].threads;
        vc.policy = variants[v].policy;
        vres[v].push_back(run_live(vc, vp));
        if (cfg.verbose) {
          print_verbose_live(variants[v].label, vres[v].back());
          std::fflush(stdout);
        }
      }
    for (std::size_t v = 0; v < std::size(variants); ++v) {
      const auto& rs = vres[v];
      uint64_t bad = 0;
      for (const auto& r : rs)
        bad += r.missing + r.duplicates + r.foreign + r.errors;
      std::printf(
        "  %-23s commit start->delivery p50 %7s p99 %7s p99.9 %7s | commit "
        "end->delivery p99 %7s | commit p99 %7s | send->ack p99 %7s%s\n",
        variants[v].label,
        fmt_ms(
          med_live(rs, [](auto& r) { return r.lat[from_commit_start].p50; }))
          .c_str(),
        fmt_ms(
          med_live(rs, [](auto& r) { return r.lat[from_commit_start].p99; }))
          .c_str(),
        fmt_ms(
          med_live(rs, [](auto& r) { return r.lat[from_commit_start].p999; }))
          .c_str(),
        fmt_ms(med_live(rs, [](auto& r) { return r.lat[from_commit_end].p99; }))
          .c_str(),
        fmt_ms(med_live(rs, [](auto& r) { return r.commit_p99_ms; })).c_str(),
        fmt_ms(med_live(rs, [](auto& r) { return r.lat[send_to_ack].p99; }))
          .c_str(),
        bad > 0 ? " (CHECK FAILED: missing/duplicate/failed events)" : "");
    }
    std::printf("load average %s\n\n", load_average().c_str());
    std::fflush(stdout);

    // -- 2 + 3. catch-up ----------------------------------------------------
    temp_dir hist;
    double write_s = 0;
    {
      auto store = open_journal(hist.path());
      write_s = write_history(*store, cfg.history);
    }
    std::printf("2./3. catch-up over a history of %llu events (%zu-byte "
                "payloads, 1 event per append, %u streams, written in %.1f s "
                "with %zu appends per commit); all subscriptions from the "
                "beginning, filter all\n",
                static_cast<unsigned long long>(cfg.history), payload_bytes,
                history_streams, write_s, history_commit);
    std::fflush(stdout);
    std::vector<catchup_rep> reps_out;
    for (int rep = 0; rep < cfg.reps; ++rep) {
      reps_out.push_back(run_catchup_rep(cfg, hist.path()));
      if (cfg.verbose) {
        std::printf("  [rep %d]", rep + 1);
        for (std::size_t k = 0; k < scan_kinds; ++k)
          std::printf(" %s %s/s;", scan_names[k],
                      fmt_rate(reps_out.back().scan[k]).c_str());
        std::printf("\n");
        std::fflush(stdout);
      }
    }
    auto med_of = [&](auto get) {
      std::vector<double> xs;
      for (const auto& r : reps_out)
        xs.push_back(get(r));
      return median(xs);
    };
    for (std::size_t i = 0; i < fanout_count; ++i)
      std::printf(
        "fan-out N=%-2zu  per subscriber %7s ev/s (slowest %7s)  total %7s "
        "ev/s  %.0f events/batch\n",
        fanouts[i],
        fmt_rate(med_of([i](auto& r) { return r.fan[i].per_sub_median; }))
          .c_str(),
        fmt_rate(med_of([i](auto& r) { return r.fan[i].per_sub_min; })).c_str(),
        fmt_rate(med_of([i](auto& r) { return r.fan[i].total; })).c_str(),
        med_of([i](auto& r) { return r.fan[i].events_per_batch; }));
    std::printf(
      "catch-up, 1 subscriber, batch size 4096: %s ev/s\n",
      fmt_rate(med_of([](auto& r) { return r.big_batch.total; })).c_str());
    std::printf("\n3. catch-up read rate vs scans of the same data (events/s, "
                "ns/event, ratio to the raw 1-byte scan):\n");
    auto raw = med_of([](auto& r) { return r.scan[raw_one_byte]; });
    for (std::size_t k = 0; k < scan_kinds; ++k) {
      auto x = med_of([k](auto& r) { return r.scan[k]; });
      if (x <= 0)
        continue; // e.g. no SSE4.2 for the CRC baseline
      std::printf("  %-30s %8s  %5.0f ns  (%.2fx)\n", scan_names[k],
                  fmt_rate(x).c_str(), 1e9 / x, raw > 0 ? x / raw : 0.0);
    }
    std::printf("  %s\n", reps_out.back().layout.c_str());
    auto fixed_us = med_of([](auto& r) { return r.empty_scan_us; });
    std::printf("  fixed cost of one scan_partition call that finds nothing "
                "(read txn + cursor + seek): %.1f us; the cursor pays it per "
                "dirty partition per pump, a full pass %zu times = %.1f ms\n",
                fixed_us, std::size_t{1024}, fixed_us * 1024 / 1000);
    auto ratio_to = [&](scan_kind base) {
      return med_of([base](auto& r) {
        return r.scan[base] > 0 ? r.scan[catchup_1] / r.scan[base] : 0.0;
      });
    };
    // The like-for-like baseline checks each record's CRC32C, as the
    // journal does (without SSE4.2 the 1-byte scan stands in).
    auto crc_base = have_crc_hw ? raw_crc : raw_one_byte;
    auto ratio = ratio_to(crc_base);
    std::printf("target catch-up >= 0.5x raw scan + CRC32C: %.2fx (median of "
                "per-repetition ratios): %s; vs raw 1-byte scan: %.2fx, vs "
                "journal scan_log: %.2fx, vs journal scan_partition: %.2fx\n",
                ratio, ratio >= 0.5 ? "met" : "MISSED", ratio_to(raw_one_byte),
                ratio_to(journal_log), ratio_to(journal_plain));
    std::printf(
      "\ntotal %.0f s, load average at the end %s\n",
      std::chrono::duration<double>(clock_type::now() - t_start).count(),
      load_average().c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "pubsub_bench: %s\n", e.what());
    return 1;
  }
}
