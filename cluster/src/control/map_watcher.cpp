// annals -- event-sourced aggregates on the C++ Actor Framework.
#include "control/map_watcher.hpp"

#include "etcd/watch.hpp"

namespace annals::cluster::control {

map_watcher::map_watcher(etcd::client c, cluster_keys keys, map_handler on_map,
                         error_handler on_error, std::chrono::milliseconds poll)
  : client_(std::move(c)), keys_(std::move(keys)), on_map_(std::move(on_map)),
    on_error_(std::move(on_error)), poll_(poll) {
  thread_ = std::thread{[this] { run(); }};
}

map_watcher::~map_watcher() {
  stop();
}

void map_watcher::stop() {
  {
    std::lock_guard guard{mtx_};
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable())
    thread_.join();
}

void map_watcher::reread() {
  ++rereads_;
  auto got = read_map(client_, keys_);
  if (!got) {
    on_error_(got.error());
    return;
  }
  if (*got && (*got)->mod_revision > delivered_) {
    delivered_ = (*got)->mod_revision;
    on_map_(**got);
  }
}

void map_watcher::run() {
  std::unique_ptr<etcd::watch> stream;
  for (;;) {
    if (!stream) {
      // Watch first, then read: a write after the watch's start revision
      // is a hint; one before it is in the read.
      auto on_events = [this](std::vector<etcd::watch_event>, int64_t) {
        {
          std::lock_guard guard{mtx_};
          hinted_ = true;
        }
        cv_.notify_all();
      };
      auto on_end = [this](caf::error) {
        {
          std::lock_guard guard{mtx_};
          ended_ = true;
        }
        cv_.notify_all();
      };
      etcd::watch_options opts;
      opts.key = keys_.map();
      auto started = etcd::watch::start(client_, opts, on_events, on_end);
      if (started) {
        stream = std::move(*started);
        ++watches_started_;
      }
    }
    reread();
    bool restart = false;
    {
      std::unique_lock guard{mtx_};
      cv_.wait_for(guard, poll_,
                   [this] { return stopping_ || hinted_ || ended_; });
      if (stopping_)
        break;
      restart = ended_;
      hinted_ = false;
      ended_ = false;
    }
    if (restart)
      stream.reset(); // joins the ended stream's thread
  }
  stream.reset();
}

} // namespace annals::cluster::control
