// annals -- memory while a workload touches many distinct aggregates.
//
// Usage: touch_bench [--aggregates=N] [--max-live=N]
// Sends one deposit to each of N distinct aggregates (default 10^6) with
// 256 commands in flight, `max-live` live aggregates per type (default
// 10^4), and prints, every N/10 aggregates, the live-aggregate count and the
// process's anonymous RSS (the LMDB map is file-backed and not counted).
// The claim checked: memory stays bounded by the cap, not by the number of
// aggregates ever touched. The journal uses unsafe-no-sync: this measures
// memory, not durability (see runtime_bench for fsync figures).
#include "annals/runtime.hpp"

#include <caf/actor_system.hpp>
#include <caf/scoped_actor.hpp>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

namespace touch {

struct deposit {
  int64_t cents = 0;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, deposit& x) {
  return f(caf::meta::type_name("touch.deposit"), x.cents);
}
struct deposited {
  static constexpr std::string_view type_name = "touch.deposited";
  int64_t cents = 0;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, deposited& x) {
  return f(caf::meta::type_name("touch.deposited"), x.cents);
}

class account {
public:
  static constexpr std::string_view category = "touch.account";
  using commands = annals::type_list<deposit>;
  using events = annals::type_list<deposited>;
  annals::decision<account> handle(const deposit& d) const {
    return annals::emit(deposited{d.cents});
  }
  void apply(const deposited& e) noexcept {
    balance_ += e.cents;
  }
  template <class Inspector>
  friend typename Inspector::result_type inspect(Inspector& f, account& x) {
    return f(caf::meta::type_name("touch.account"), x.balance_);
  }

private:
  int64_t balance_ = 0;
};

} // namespace touch

CAF_BEGIN_TYPE_ID_BLOCK(touch, caf::id_block::annals::end)
CAF_ADD_TYPE_ID(touch, (touch::deposit))
CAF_ADD_TYPE_ID(touch, (touch::deposited))
CAF_END_TYPE_ID_BLOCK(touch)

namespace {

long rss_anon_kib() {
  std::ifstream in{"/proc/self/status"};
  std::string key;
  long value = 0;
  while (in >> key) {
    if (key == "RssAnon:") {
      in >> value;
      return value;
    }
    in.ignore(1 << 12, '\n');
  }
  return -1;
}

} // namespace

int main(int argc, char** argv) {
  std::size_t n = 1'000'000;
  std::size_t max_live = 10'000;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a.starts_with("--aggregates="))
      n = std::stoull(a.substr(13));
    else if (a.starts_with("--max-live="))
      max_live = std::stoull(a.substr(11));
  }
  auto dir = std::filesystem::temp_directory_path()
             / ("annals-touch-" + std::to_string(::getpid()));
  annals::config conf;
  conf.set("scheduler.max-threads", 2);
  {
    caf::actor_system sys{conf};
    annals::runtime_config rc;
    rc.data_dir = dir.string();
    rc.journal.sync = annals::durability::unsafe_no_sync;
    rc.hosts.max_live = max_live;
    rc.hosts.snapshot_every = 0;
    auto rt = annals::runtime::start(sys, rc);
    if (!rt) {
      std::fprintf(stderr, "%s\n", annals::render(rt.error()).c_str());
      return 1;
    }
    auto h = (*rt)->host<touch::account>();
    std::printf("touch_bench: %zu distinct aggregates, max-live %zu, 256 in "
                "flight (4 threads x 64)\n",
                n, max_live);
    std::printf("%12s %10s %14s %10s\n", "touched", "live", "RssAnon KiB",
                "cmd/s");
    auto t0 = std::chrono::steady_clock::now();
    std::size_t step = std::max<std::size_t>(1, n / 10);
    std::atomic<std::size_t> next{0}, errors{0};
    for (std::size_t done = 0; done < n; done += step) {
      auto target = std::min(n, done + step);
      std::vector<std::thread> ts;
      for (int t = 0; t < 4; ++t)
        ts.emplace_back([&] {
          caf::scoped_actor self{sys};
          for (;;) {
            std::vector<decltype(self->request(h.actor(), caf::infinite,
                                               annals::command_envelope{}))>
              window;
            for (int k = 0; k < 64; ++k) {
              auto i = next++;
              if (i >= target) {
                --next;
                break;
              }
              window.push_back(
                self->request(h.actor(), std::chrono::seconds{60},
                              h.make(std::string{"a"}.append(std::to_string(i)),
                                     touch::deposit{1})));
            }
            if (window.empty())
              return;
            for (auto& w : window)
              w.receive([](const annals::ack&) {},
                        [&](caf::error&) { ++errors; });
          }
        });
      for (auto& t : ts)
        t.join();
      auto secs
        = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
            .count();
      std::printf(
        "%12zu %10llu %14ld %10.0f\n", target,
        static_cast<unsigned long long>((*rt)->stats().live_aggregates),
        rss_anon_kib(), target / secs);
      std::fflush(stdout);
    }
    std::printf("errors: %zu\n", errors.load());
    (*rt)->shutdown();
  }
  std::filesystem::remove_all(dir);
}
