// annals -- event-sourced aggregates on the C++ Actor Framework.
#include "node/peer_links.hpp"

#include "annals/log.hpp"

#include "protocol.hpp"
#include "tcp_probe.hpp"

#include <caf/io/middleman_actor.hpp>

#include <set>

namespace annals::cluster::detail {

namespace {

/// A short-lived detached actor: probes `host:port` and tells `node`.
void probe_peer(caf::event_based_actor* self, caf::actor node, std::string name,
                std::string host, uint16_t port) {
  auto err = probe_tcp(host, port, std::chrono::seconds{1});
  self->send(node, probed_atom::value, std::move(name), !err);
}

} // namespace

peer_links::peer_links(caf::event_based_actor* self, caf::actor mm, events ev)
  : self_(self), mm_(std::move(mm)), ev_(std::move(ev)) {
}

void peer_links::connect(const member& m) {
  if (m.name == me_.name || m.port == 0)
    return;
  auto& pr = peers_[m.name];
  pr.m = m;
  if (pr.root || pr.dialling || m.name < me_.name)
    return;
  pr.dialling = true;
  pr.dial_started = clock::now();
  self_->spawn<caf::detached>(probe_peer, caf::actor_cast<caf::actor>(self_),
                              m.name, m.host, m.port);
}

void peer_links::on_probed(const std::string& name, bool reachable) {
  auto it = peers_.find(name);
  if (it == peers_.end() || !it->second.dialling)
    return;
  if (!reachable || it->second.root) {
    it->second.dialling = false;
    return;
  }
  const auto& m = it->second.m;
  self_->request(mm_, caf::infinite, caf::connect_atom::value, m.host, m.port)
    .then(
      [this, name](const caf::node_id&, caf::strong_actor_ptr& ptr,
                   const std::set<std::string>&) {
        peers_[name].dialling = false;
        if (ptr)
          attach(name, caf::actor_cast<caf::actor>(ptr));
      },
      [this, name](caf::error&) { peers_[name].dialling = false; });
}

void peer_links::on_hello(const member& m, const caf::actor& root) {
  if (m.name == me_.name || !root)
    return;
  peers_[m.name].m = m;
  attach(m.name, root);
}

void peer_links::attach(const std::string& name, caf::actor root) {
  auto& pr = peers_[name];
  if (pr.root == root)
    return;
  if (pr.root) {
    // A new incarnation reached us before the old one's down_msg (which
    // then matches no peer): the old one answers nothing.
    self_->demonitor(pr.root);
    pr.root = nullptr;
    if (ev_.down)
      ev_.down(name, "node " + name + " restarted");
  }
  pr.root = std::move(root);
  pr.last_heard = clock::now();
  self_->monitor(pr.root);
  log(log_level::info, me_.name + ": connected to " + name);
  // Introduce ourselves: the peer learns our root.
  self_->send(pr.root, hello_atom::value, me_,
              caf::actor_cast<caf::actor>(self_));
  if (ev_.up)
    ev_.up(name, pr.root);
}

bool peer_links::on_down(const caf::down_msg& dm) {
  for (auto& [name, pr] : peers_)
    if (pr.root && pr.root.address() == dm.source) {
      lose(name, to_string(dm.reason));
      return true;
    }
  return false;
}

void peer_links::lose(const std::string& name, const std::string& why) {
  auto& pr = peers_[name];
  if (!pr.root)
    return;
  self_->demonitor(pr.root);
  pr.root = nullptr;
  log(log_level::warning, me_.name + ": lost node " + name + " (" + why + ")");
  if (ev_.down)
    ev_.down(name, "node " + name + " failed (" + why + ")");
}

bool peer_links::is_root(const std::string& name,
                         const caf::strong_actor_ptr& sender) const {
  auto it = peers_.find(name);
  return it != peers_.end() && it->second.root && sender
         && it->second.root.address() == sender->address();
}

void peer_links::on_alive(const std::string& name, bool answer,
                          const caf::strong_actor_ptr& sender) {
  if (!is_root(name, sender))
    return;
  auto& pr = peers_[name];
  pr.last_heard = clock::now();
  if (!answer)
    self_->send(pr.root, alive_atom::value, me_.name, true);
}

void peer_links::tick(clock::time_point now) {
  std::vector<std::string> silent;
  for (auto& [name, pr] : peers_) {
    if (pr.dialling && now - pr.dial_started > std::chrono::seconds{5})
      pr.dialling = false;
    if (!pr.root)
      continue;
    if (now - pr.last_heard > silence)
      silent.push_back(name);
    else
      self_->send(pr.root, alive_atom::value, me_.name, false);
  }
  for (const auto& name : silent)
    lose(name, "no answer for " + std::to_string(silence.count()) + " s");
}

caf::actor peer_links::root_of(const std::string& name) const {
  auto it = peers_.find(name);
  return it == peers_.end() ? caf::actor{} : it->second.root;
}

bool peer_links::reachable(const std::string& name) const {
  return name == me_.name || root_of(name) != nullptr;
}

} // namespace annals::cluster::detail
