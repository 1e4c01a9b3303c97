// annals -- event-sourced aggregates on the C++ Actor Framework.
// Part of the cluster module (internal): a watch on etcd keys through the
// gateway's streaming `/v3/watch`.
//
// What: one long-lived POST per watch; etcd streams one JSON object per
// line, each a batch of events (PUT or DELETE, in revision order).
// Guarantees: `start` returns once etcd confirmed the watch (or with the
// error); from then on, every event of the watched keys after
// `start_revision` (or after the current revision when 0) is delivered in
// order, without gaps, until the stream ends. WATCHES ARE HINTS: a stream
// can end at any time (member killed, compaction, cancel, or the member
// lost its leader: the stream requires one), a watch on a member cut off
// silently may stay quiet until etcd notices, and etcd 3.4 can replay events
// from an older revision after a snapshot restore (etcd#15271). Callers must
// re-read (linearizably) what they watch, ignore revisions older than what
// they already know, and re-watch from the revision read.
// Errors: `on_end` gets `unavailable` (stream closed or reset), `compacted`
// (with the compact revision: re-read, then watch from a newer revision),
// `rejected` (etcd cancelled the watch, with its reason) or
// `malformed_response`.
// Threads: callbacks run on the watch's own thread, one at a time, and must
// not throw or call `stop`. `stop` (and the destructor) interrupt the
// stream and join the thread; after it no callback runs, and `on_end` is
// not called for a stop.
#pragma once

#include "etcd/etcd_client.hpp"

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace annals::cluster::etcd {

struct watch_event {
  enum class kind : uint8_t { put, erase };
  kind type = kind::put;
  /// After the event: a deleted key has only `key` and `mod_revision`.
  key_value kv;
};

struct watch_options {
  std::string key;
  /// Watch every key starting with `key`.
  bool prefix = false;
  /// First revision to deliver; 0 = changes after the current revision.
  int64_t start_revision = 0;
};

class watch {
public:
  /// A batch of events, with the revision of etcd's store when sent.
  using events_handler
    = std::function<void(std::vector<watch_event> events, int64_t revision)>;
  using end_handler = std::function<void(caf::error reason)>;

  /// Opens the stream on the endpoint the client tried last (then the
  /// others), within the client's deadline, and waits for etcd to confirm
  /// the watch; then delivers on its own thread. Errors as for client
  /// calls, plus `compacted`.
  static caf::expected<std::unique_ptr<watch>> start(const client& c,
                                                     watch_options opts,
                                                     events_handler on_events,
                                                     end_handler on_end);

  ~watch();
  watch(const watch&) = delete;
  watch& operator=(const watch&) = delete;

  /// The store's revision when etcd confirmed the watch.
  int64_t created_revision() const noexcept {
    return created_revision_;
  }

  /// Ends the stream and joins the thread. Idempotent.
  void stop();

  struct stream;

private:
  watch(std::unique_ptr<stream> s, int64_t created_revision);

  std::unique_ptr<stream> stream_;
  int64_t created_revision_ = 0;
  std::thread thread_;
};

} // namespace annals::cluster::etcd
