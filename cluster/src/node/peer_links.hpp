// annals -- event-sourced aggregates on the C++ Actor Framework.
// Part of the cluster module (internal): the node actor's connections to
// the other members.
//
// What: one monitored connection per member, to its node actor (its
// "root"). Only the smaller name dials (two nodes dialling each other at
// once may each keep a different connection, seen with TLS); the larger
// learns the root from the dialler's hello. A peer is probed with a bounded
// TCP connect on a detached actor before CAF dials it (CAF's connect blocks
// the middleman for minutes on a dropping network).
// Liveness beyond CAF's: BASP may keep a dead peer's proxy alive (no
// down_msg), so `tick` pings every root and drops one silent for
// `silence`; the next `connect` redials.
// Errors: none; a failed dial leaves the peer unconnected until retried.
// Threads: confined to the node actor (`self`).
#pragma once

#include "annals/cluster/view.hpp"

#include <caf/actor.hpp>
#include <caf/atom.hpp>
#include <caf/event_based_actor.hpp>

#include <chrono>
#include <functional>
#include <map>
#include <string>

namespace annals::cluster::detail {

/// `(probed_atom, name, reachable)`: a probe's result, to the node actor.
using probed_atom = caf::atom_constant<caf::atom("c_probed")>;

class peer_links {
public:
  using clock = std::chrono::steady_clock;

  /// A root silent this long is taken as lost.
  static constexpr auto silence = std::chrono::seconds{4};

  struct events {
    /// A connection to `name` (a new one, or a new incarnation's).
    std::function<void(const std::string& name, const caf::actor& root)> up;
    /// The connection to `name` is gone (also when a new incarnation
    /// replaces it; `up` follows at once); `why` says how.
    std::function<void(const std::string& name, const std::string& why)> down;
  };

  /// `mm` is CAF's middleman actor (plain or openssl) that dials.
  peer_links(caf::event_based_actor* self, caf::actor mm, events ev);

  /// This node's own member record (its port known once bound).
  void set_self(member m) {
    me_ = std::move(m);
  }

  const member& self() const noexcept {
    return me_;
  }

  /// Dials `m` unless connected, dialling, itself, or the larger name.
  void connect(const member& m);

  /// A probe of `name` ended.
  void on_probed(const std::string& name, bool reachable);

  /// `name`'s hello: its root.
  void on_hello(const member& m, const caf::actor& root);

  /// True if `dm` was a peer's (then handled).
  bool on_down(const caf::down_msg& dm);

  /// A ping (answered) or pong from `name`, sent by `sender`.
  void on_alive(const std::string& name, bool answer,
                const caf::strong_actor_ptr& sender);

  /// True if `sender` is the root we are connected to for `name`.
  bool is_root(const std::string& name,
               const caf::strong_actor_ptr& sender) const;

  /// Pings, drops silent roots, forgets stuck dials.
  void tick(clock::time_point now);

  /// The connected root of `name`, or null.
  caf::actor root_of(const std::string& name) const;

  /// Connected (self always is).
  bool reachable(const std::string& name) const;

  /// Calls `f(name, root)` for each connected peer.
  template <class F>
  void for_each_connected(F&& f) const {
    for (const auto& [name, pr] : peers_)
      if (pr.root)
        f(name, pr.root);
  }

private:
  struct peer {
    member m;
    caf::actor root;
    bool dialling = false;
    clock::time_point dial_started;
    /// When the root last answered (or was connected).
    clock::time_point last_heard;
  };

  void attach(const std::string& name, caf::actor root);
  void lose(const std::string& name, const std::string& why);

  caf::event_based_actor* self_;
  caf::actor mm_;
  events ev_;
  member me_;
  std::map<std::string, peer> peers_;
};

} // namespace annals::cluster::detail
