// annals -- event-sourced aggregates on the C++ Actor Framework.
#include "cluster/load.hpp"

#include "annals/render.hpp"

#include "cluster/cleanup.hpp"
#include "cluster/workload.hpp"

#include <caf/event_based_actor.hpp>

#include <algorithm>
#include <cstdio>
#include <random>

namespace cluster_bench {

namespace {

/// An event-based actor keeping `window` requests outstanding.
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
    if (spec_.rate > 0) {
      start_ = clock_type::now();
      pace();
      return;
    }
    for (std::size_t i = 0; i < spec_.window; ++i) {
      if (!send_next()) {
        break;
      }
    }
    if (outstanding_ == 0) {
      finish();
    }
  }

  /// Retry mode: sends the failed command `cmd_id` to `id` again.
  void resend(const std::string& id, const std::string& cmd_id, double sent,
              uint32_t retries) {
    send(id, cmd_id, sent, retries);
  }

  /// Open loop: sends every command due by now (the window permitting),
  /// then wakes up again in a millisecond until the deadline.
  void pace() {
    auto now = clock_type::now();
    auto elapsed = std::chrono::duration<double>(now - start_).count();
    // Command k is due at k / rate: k = 0 at once.
    auto due = static_cast<uint64_t>(elapsed * spec_.rate) + 1;
    while (sent_ < due && outstanding_ < spec_.window && now < spec_.deadline) {
      auto at = start_
                + std::chrono::duration_cast<clock_type::duration>(
                  std::chrono::duration<double>(sent_ / spec_.rate));
      send_one(since_epoch(at));
    }
    if (now < spec_.deadline) {
      self_->delayed_send(self_, std::chrono::milliseconds{1},
                          caf::tick_atom::value);
    } else {
      pacing_ = false;
      if (outstanding_ == 0) {
        finish();
      }
    }
  }

private:
  double since_epoch(clock_type::time_point t) const {
    return std::chrono::duration<double>(t - spec_.epoch).count();
  }

  bool send_next() {
    const std::string* id = nullptr;
    auto now = clock_type::now();
    if (spec_.sequential) {
      if (next_ >= spec_.end) {
        return false;
      }
      id = &(*spec_.ids)[next_++];
    } else {
      if (now >= spec_.deadline
          || (spec_.stop != nullptr && spec_.stop->load())) {
        return false;
      }
      id = &(*spec_.ids)[pick_(rng_)];
    }
    send_to(*id, since_epoch(now));
    return true;
  }

  /// Open loop: one command to a random id, timed from `sent`.
  void send_one(double sent) {
    send_to((*spec_.ids)[pick_(rng_)], sent);
  }

  void send_to(const std::string& id, double sent) {
    ++outstanding_;
    ++out_->outstanding;
    std::string cmd_id;
    if (spec_.retry) {
      char buf[48];
      std::snprintf(buf, sizeof buf, "b%llu-%llu",
                    static_cast<unsigned long long>(spec_.seed),
                    static_cast<unsigned long long>(sent_));
      cmd_id = buf;
    }
    ++sent_;
    send(id, cmd_id, sent, 0);
  }

  void send(const std::string& id, const std::string& cmd_id, double sent,
            uint32_t retries) {
    annals::command_options opts;
    opts.command_id = cmd_id;
    self_
      ->request(spec_.accounts.actor(), spec_.timeout,
                spec_.accounts.make(id, cluster_bench::deposit{1, memo}, opts))
      .then([this, sent,
             retries](const annals::ack&) { on_reply(sent, retries, nullptr); },
            [this, id, cmd_id, sent, retries](caf::error& err) {
              if (spec_.retry
                  && clock_type::now() - spec_.epoch
                       < std::chrono::duration<double>(sent + 60)) {
                count_error(err);
                self_->delayed_send(self_, std::chrono::milliseconds{5},
                                    caf::ok_atom::value, id, cmd_id, sent,
                                    retries + 1);
                return;
              }
              on_reply(sent, retries, &err);
            });
  }

  void count_error(const caf::error& err) {
    ++out_->errors;
    if (out_->first_error.empty()) {
      out_->first_error = annals::render(err);
    }
  }

  void on_reply(double sent, uint32_t retries, caf::error* err) {
    --outstanding_;
    --out_->outstanding;
    auto replied = since_epoch(clock_type::now());
    out_->samples.push_back({sent, replied, err == nullptr, retries});
    if (err != nullptr) {
      count_error(*err);
    }
    if (spec_.rate > 0) {
      if (!pacing_ && outstanding_ == 0) {
        finish();
      }
      return;
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
  uint64_t sent_ = 0;
  bool finished_ = false;
  clock_type::time_point start_; // open loop: when command 0 was due
  bool pacing_ = true;           // open loop: before the deadline
};

caf::behavior driver_actor(caf::event_based_actor* self, load_spec spec,
                           std::shared_ptr<load_result> out,
                           std::shared_ptr<std::promise<void>> done) {
  auto d = std::make_shared<driver>(self, std::move(spec), std::move(out),
                                    std::move(done));
  d->start();
  // Keeps `d` alive; retries and the pace come back as messages.
  return {[d](caf::ok_atom, const std::string& id, const std::string& cmd_id,
              double sent,
              uint32_t retries) { d->resend(id, cmd_id, sent, retries); },
          [d](caf::tick_atom) { d->pace(); }};
}

load::totals merge(const std::vector<const load_result*>& rs) {
  load::totals t;
  for (const auto* r : rs) {
    t.errors += r->errors;
    if (t.first_error.empty()) {
      t.first_error = r->first_error;
    }
    t.samples.insert(t.samples.end(), r->samples.begin(), r->samples.end());
  }
  std::sort(
    t.samples.begin(), t.samples.end(),
    [](const sample& a, const sample& b) { return a.replied < b.replied; });
  for (const auto& s : t.samples) {
    t.ok += s.ok ? 1 : 0;
  }
  return t;
}

} // namespace

load::load(caf::actor_system& sys, const std::vector<load_spec>& specs) {
  for (const auto& s : specs) {
    auto r = std::make_shared<load_result>();
    auto p = std::make_shared<std::promise<void>>();
    futures_.push_back(p->get_future());
    results_.push_back(r);
    sys.spawn(driver_actor, s, r, p);
  }
}

void load::await_all(const char* what, std::chrono::seconds limit) {
  auto deadline = clock_type::now() + limit;
  for (auto& f : futures_) {
    if (f.wait_until(deadline) != std::future_status::ready) {
      uint64_t outstanding = 0;
      for (const auto& r : results_) {
        outstanding += r->outstanding;
      }
      die(std::string{what} + ": drivers did not finish, "
          + std::to_string(outstanding) + " requests outstanding");
    }
  }
}

load::totals load::wait(const char* what, std::chrono::seconds limit) {
  await_all(what, limit);
  std::vector<const load_result*> all;
  for (const auto& r : results_) {
    all.push_back(r.get());
  }
  return merge(all);
}

std::vector<load::totals> load::wait_each(const char* what,
                                          std::chrono::seconds limit) {
  await_all(what, limit);
  std::vector<totals> out;
  for (const auto& r : results_) {
    out.push_back(merge({r.get()}));
  }
  return out;
}

std::vector<load_spec>
random_load(const accounts_handle& h, const std::vector<std::string>& ids,
            clock_type::time_point epoch, clock_type::time_point deadline,
            const std::atomic<bool>* stop, uint64_t seed) {
  std::vector<load_spec> specs;
  for (std::size_t d = 0; d < drivers; ++d) {
    load_spec s;
    s.accounts = h;
    s.ids = &ids;
    s.deadline = deadline;
    s.stop = stop;
    s.window = window;
    s.seed = seed * 100 + d;
    s.epoch = epoch;
    specs.push_back(s);
  }
  return specs;
}

std::vector<load_spec> paced_load(const accounts_handle& h,
                                  const std::vector<std::string>& ids,
                                  clock_type::time_point epoch,
                                  clock_type::time_point deadline, double rate,
                                  uint64_t seed) {
  auto specs = random_load(h, ids, epoch, deadline, nullptr, seed);
  for (auto& s : specs) {
    s.rate = rate / static_cast<double>(specs.size());
    s.window = 4 * window;
  }
  return specs;
}

/// One command to each of `ids` (untimed: every aggregate live, its stream
/// existing).
void activate(caf::actor_system& sys, const accounts_handle& h,
              const std::vector<std::string>& ids) {
  std::vector<load_spec> specs;
  for (std::size_t d = 0; d < drivers; ++d) {
    load_spec s;
    s.accounts = h;
    s.ids = &ids;
    s.sequential = true;
    s.begin = ids.size() * d / drivers;
    s.end = ids.size() * (d + 1) / drivers;
    s.window = window;
    s.epoch = clock_type::now();
    specs.push_back(s);
  }
  load l{sys, specs};
  auto t = l.wait("activation", std::chrono::seconds{180});
  if (t.errors > 0) {
    die("activation: " + std::to_string(t.errors)
        + " commands failed, first: " + t.first_error);
  }
}

} // namespace cluster_bench
