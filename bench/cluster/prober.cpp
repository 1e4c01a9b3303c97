// annals -- event-sourced aggregates on the C++ Actor Framework.
#include "cluster/prober.hpp"

#include "cluster/cleanup.hpp"
#include "cluster/workload.hpp"

#include <caf/event_based_actor.hpp>

#include <memory>

namespace cluster_bench {

namespace {

/// Sends a deposit to each of `ids` through `h` until each is acknowledged
/// (after an error: again 5 ms later); `done` gets the time (ms since
/// `t0`) of each first acknowledgement, negative if none within 30 s.
class prober {
public:
  prober(caf::event_based_actor* self, accounts_handle h,
         std::vector<std::string> ids, clock_type::time_point t0,
         std::shared_ptr<std::promise<std::vector<double>>> done)
    : self_(self), h_(std::move(h)), ids_(std::move(ids)), t0_(t0),
      done_(std::move(done)), ms_(ids_.size(), -1), left_(ids_.size()) {
  }

  void start() {
    if (ids_.empty()) {
      finish();
      return;
    }
    for (uint64_t i = 0; i < ids_.size(); ++i) {
      send(i);
    }
  }

  void send(uint64_t i) {
    self_
      ->request(h_.actor(), std::chrono::seconds{10},
                h_.make(ids_[i], cluster_bench::deposit{1, memo}))
      .then(
        [this, i](const annals::ack&) {
          settle(i, ms_between(t0_, clock_type::now()));
        },
        [this, i](caf::error&) {
          if (clock_type::now() - t0_ > std::chrono::seconds{30}) {
            settle(i, -1);
          } else {
            self_->delayed_send(self_, std::chrono::milliseconds{5},
                                caf::ok_atom::value, i);
          }
        });
  }

private:
  void settle(uint64_t i, double ms) {
    ms_[i] = ms;
    if (--left_ == 0) {
      finish();
    }
  }

  void finish() {
    done_->set_value(ms_);
    self_->quit();
  }

  caf::event_based_actor* self_;
  accounts_handle h_;
  std::vector<std::string> ids_;
  clock_type::time_point t0_;
  std::shared_ptr<std::promise<std::vector<double>>> done_;
  std::vector<double> ms_;
  std::size_t left_;
};

caf::behavior
prober_actor(caf::event_based_actor* self, accounts_handle h,
             std::vector<std::string> ids, clock_type::time_point t0,
             std::shared_ptr<std::promise<std::vector<double>>> done) {
  auto p = std::make_shared<prober>(self, std::move(h), std::move(ids), t0,
                                    std::move(done));
  p->start();
  return {[p](caf::ok_atom, uint64_t i) { p->send(i); }};
}

} // namespace

std::future<std::vector<double>> probe(caf::actor_system& sys,
                                       const accounts_handle& h,
                                       std::vector<std::string> ids,
                                       clock_type::time_point t0) {
  auto done = std::make_shared<std::promise<std::vector<double>>>();
  auto f = done->get_future();
  sys.spawn(prober_actor, h, std::move(ids), t0, std::move(done));
  return f;
}

std::vector<double> await_probe(std::future<std::vector<double>>& f,
                                const char* what) {
  if (f.wait_for(std::chrono::seconds{60}) != std::future_status::ready) {
    die(std::string{what} + ": probes did not finish");
  }
  return f.get();
}

} // namespace cluster_bench
