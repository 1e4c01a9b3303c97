// annals -- event-sourced aggregates on the C++ Actor Framework.
#include "annals/reply_deadlines.hpp"

#include <caf/actor_cast.hpp>
#include <caf/error.hpp>
#include <caf/message.hpp>
#include <caf/sec.hpp>

#include <pthread.h>

namespace annals {

namespace {

/// Slots of the wheel: with 10 ms ticks one turn is 10.24 s, and longer
/// timeouts wait a whole number of turns in their slot.
constexpr std::size_t wheel_slots = 1024;

using clock_type = std::chrono::steady_clock;

} // namespace

reply_deadlines::reply_deadlines(std::chrono::milliseconds tick)
  : tick_(std::max(tick, std::chrono::milliseconds{1})), wheel_(wheel_slots) {
  turned_to_
    = static_cast<uint64_t>(clock_type::now().time_since_epoch() / tick_);
  thread_ = std::thread{[this] { run(); }};
}

reply_deadlines::~reply_deadlines() {
  stop();
}

reply_deadlines::token reply_deadlines::arm(const caf::strong_actor_ptr& who,
                                            caf::message_id response_id,
                                            caf::timespan timeout) {
  auto due = clock_type::now()
             + std::chrono::duration_cast<clock_type::duration>(timeout);
  auto weak = caf::actor_cast<caf::weak_actor_ptr>(who);
  std::unique_lock guard{mtx_};
  if (stopping_) {
    guard.unlock();
    fire(weak, response_id);
    return {};
  }
  uint32_t index;
  if (!free_.empty()) {
    index = free_.back();
    free_.pop_back();
  } else {
    index = static_cast<uint32_t>(entries_.size());
    entries_.emplace_back();
  }
  auto& e = entries_[index];
  e.requester = std::move(weak);
  e.response_id = response_id;
  e.due = due;
  e.live = true;
  ++e.generation;
  // Never in a slot already processed: at worst the next tick's.
  auto at = std::max(static_cast<uint64_t>(due.time_since_epoch() / tick_),
                     turned_to_ + 1);
  wheel_[at % wheel_slots].push_back({index, e.generation});
  ++armed_;
  return {index, e.generation};
}

void reply_deadlines::disarm(token t) noexcept {
  std::lock_guard guard{mtx_};
  if (t.index >= entries_.size())
    return;
  auto& e = entries_[t.index];
  if (!e.live || e.generation != t.generation)
    return;
  e.live = false;
  e.requester.reset();
  free_.push_back(t.index);
  --armed_;
}

std::size_t reply_deadlines::armed() const {
  std::lock_guard guard{mtx_};
  return armed_;
}

void reply_deadlines::fire(caf::weak_actor_ptr& requester, caf::message_id id) {
  if (auto ptr = requester.lock())
    ptr->enqueue(nullptr, id,
                 caf::make_message(caf::make_error(caf::sec::request_timeout)),
                 nullptr);
}

void reply_deadlines::run() {
  pthread_setname_np(pthread_self(), "annals.deadline");
  std::vector<std::pair<caf::weak_actor_ptr, caf::message_id>> due;
  std::unique_lock guard{mtx_};
  while (!stopping_) {
    wake_.wait_for(guard, tick_);
    if (stopping_)
      break;
    auto now = clock_type::now();
    auto until = static_cast<uint64_t>(now.time_since_epoch() / tick_);
    // Catch up tick by tick (a late wake-up), at most one turn.
    auto from
      = std::max(turned_to_ + 1,
                 until >= wheel_slots ? until - wheel_slots + 1 : uint64_t{0});
    for (auto t = from; t <= until; ++t) {
      auto& slot = wheel_[t % wheel_slots];
      std::size_t kept = 0;
      for (auto ref : slot) {
        auto& e = entries_[ref.index];
        if (!e.live || e.generation != ref.generation)
          continue; // disarmed (the entry may be reused)
        if (e.due > now) {
          slot[kept++] = ref; // a later turn
          continue;
        }
        due.emplace_back(std::move(e.requester), e.response_id);
        e.live = false;
        free_.push_back(ref.index);
        --armed_;
      }
      slot.resize(kept);
    }
    turned_to_ = std::max(turned_to_, until);
    if (!due.empty()) {
      guard.unlock();
      for (auto& [who, id] : due)
        fire(who, id);
      due.clear();
      guard.lock();
    }
  }
  // Stopping: nothing waits forever.
  for (auto& e : entries_)
    if (e.live) {
      due.emplace_back(std::move(e.requester), e.response_id);
      e.live = false;
    }
  armed_ = 0;
  guard.unlock();
  for (auto& [who, id] : due)
    fire(who, id);
}

void reply_deadlines::stop() {
  {
    std::lock_guard guard{mtx_};
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable())
    thread_.join();
}

} // namespace annals
