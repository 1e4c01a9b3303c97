// annals -- event-sourced aggregates on the C++ Actor Framework.
#include "etcd/lease_keeper.hpp"

#include "etcd/etcd_errc.hpp"

#include <algorithm>

namespace annals::cluster::etcd {

using clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

caf::expected<std::unique_ptr<lease_keeper>>
lease_keeper::start(const client& c, std::chrono::seconds ttl,
                    lost_handler on_lost, milliseconds interval) {
  auto sent = clock::now();
  auto granted = c.grant(ttl.count());
  if (!granted)
    return std::move(granted.error());
  if (interval.count() <= 0)
    interval
      = std::max(milliseconds{1}, std::chrono::duration_cast<milliseconds>(
                                    std::chrono::seconds{granted->ttl})
                                    / 4);
  auto valid_until = sent + std::chrono::seconds{granted->ttl};
  return std::unique_ptr<lease_keeper>(new lease_keeper(
    c, granted->id, granted->ttl, interval, valid_until, std::move(on_lost)));
}

lease_keeper::lease_keeper(client c, int64_t id, int64_t ttl,
                           milliseconds interval, clock::time_point valid_until,
                           lost_handler on_lost)
  : client_(std::move(c)), id_(id), ttl_(ttl), interval_(interval),
    valid_until_(valid_until), on_lost_(std::move(on_lost)) {
  thread_ = std::thread{[this] { run(); }};
}

lease_keeper::~lease_keeper() {
  stop(true);
}

void lease_keeper::run() {
  auto next = clock::now() + interval_;
  for (;;) {
    {
      std::unique_lock guard{mtx_};
      if (cv_.wait_until(guard, next, [this] { return stopping_; }))
        return;
    }
    auto sent = clock::now();
    caf::error lost;
    if (sent >= valid_until_) {
      lost = make_error(etcd_errc::unavailable,
                        "lease " + std::to_string(id_)
                          + ": no keep-alive succeeded for its TTL");
    } else {
      // Never wait past the moment the lease may have expired.
      auto left = std::chrono::duration_cast<milliseconds>(valid_until_ - sent);
      auto c = client_.with_deadline(
        std::max(milliseconds{1}, std::min(client_.deadline(), left)));
      auto ttl = c.keep_alive(id_);
      if (ttl) {
        valid_until_ = sent + std::chrono::seconds{*ttl};
      } else if (is(ttl.error(), etcd_errc::lease_not_found)) {
        lost = std::move(ttl.error());
      } else if (clock::now() >= valid_until_) {
        lost = make_error(etcd_errc::unavailable,
                          "lease " + std::to_string(id_)
                            + ": no keep-alive succeeded for its TTL; last: "
                            + describe(ttl.error()));
      }
    }
    if (lost) {
      {
        std::lock_guard guard{mtx_};
        if (stopping_)
          return;
        alive_.store(false);
      }
      if (on_lost_)
        on_lost_(std::move(lost));
      return;
    }
    // After a failure, try again no later than the moment the lease may
    // have expired, so a loss is reported then and not a tick later.
    next = std::min(sent + interval_, std::max(valid_until_, sent));
  }
}

caf::error lease_keeper::stop(bool revoke) {
  {
    std::lock_guard guard{mtx_};
    if (stopped_)
      return {};
    stopped_ = true;
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable())
    thread_.join();
  auto was_alive = alive_.exchange(false);
  if (revoke && was_alive)
    return client_.revoke(id_);
  return {};
}

} // namespace annals::cluster::etcd
