// annals -- event-sourced aggregates on the C++ Actor Framework.
#include "annals/cluster/node.hpp"

#include "annals/errc.hpp"
#include "annals/log.hpp"
#include "annals/render.hpp"

#include "control/partition_map.hpp"
#include "node_actor.hpp"
#include "protocol.hpp"
#include "replicated/control_driver.hpp"
#include "replicated/replicator_actor.hpp"
#include "tls_error_queue.hpp"

#include <caf/after.hpp>
#include <caf/binary_deserializer.hpp>
#include <caf/io/middleman.hpp>
#include <caf/openssl/manager.hpp>
#include <caf/openssl/publish.hpp>
#include <caf/openssl/session.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include <algorithm>
#include <thread>

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(annals::cluster::cluster_status)

namespace annals::cluster {

namespace {

bool is_loopback(const std::string& host) {
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

// With authentication on, CAF's openssl module builds a TLS context per
// connection and throws when it cannot load the certificate, key or CA --
// from the I/O thread, which ends the process at the first connection.
// Building one context here turns that into a start-up error.
caf::error check_tls(caf::actor_system& sys) {
  static_cast<void>(detail::tls_error_queue_anchor());
  if (!sys.has_openssl_manager())
    return make_error(errc::invalid_command,
                      "TLS requested but the openssl module is not loaded");
  auto& c = sys.config();
  std::string missing;
  for (auto [option, value] :
       {std::pair{"openssl.certificate", &c.openssl_certificate},
        std::pair{"openssl.key", &c.openssl_key},
        std::pair{"openssl.cafile", &c.openssl_cafile}})
    if (value->empty())
      missing += (missing.empty() ? "" : ", ") + std::string{option};
  if (!missing.empty())
    return make_error(errc::invalid_command,
                      "TLS needs " + missing
                        + " (mutual authentication: openssl.certificate, "
                          "openssl.key and openssl.cafile)");
  try {
    caf::openssl::session probe{sys};
    if (!probe.init())
      return make_error(errc::invalid_command, "cannot create a TLS session");
  } catch (const std::exception& e) {
    return make_error(errc::invalid_command,
                      std::string{"TLS setup: "} + e.what() + " ("
                        + c.openssl_certificate + ", " + c.openssl_key + ", "
                        + c.openssl_cafile + ")");
  }
  return {};
}

/// The membership view nodes of earlier versions stored (read only).
struct legacy_view {
  uint64_t version = 0;
  std::vector<member> members;
  std::vector<member> previous;
  std::vector<uint64_t> epochs;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, legacy_view& x) {
  return f(x.version, x.members, x.previous, x.epochs);
}

/// A standalone node's epochs: each partition's journal epoch, at least 1.
/// Refuses a directory that an earlier version's multi-node cluster wrote
/// (its membership view lists other nodes): it holds only the partitions
/// that node owned, and serving the others empty would lose their events.
caf::expected<std::vector<uint64_t>> standalone_epochs(runtime& rt) {
  auto& store = rt.store();
  auto row = store.load_model(detail::view_model, detail::view_key);
  if (!row)
    return std::move(row.error());
  if (*row) {
    legacy_view v;
    caf::binary_deserializer source{nullptr, (*row)->data(), (*row)->size()};
    if (source(v))
      return make_error(errc::malformed_payload,
                        "the stored cluster view (model annals.cluster, key "
                        "view) is damaged");
    if (v.members.size() > 1)
      return make_error(
        errc::invalid_command,
        "this data directory belonged to a " + std::to_string(v.members.size())
          + "-node cluster of an earlier annals (membership views, now "
            "removed): it holds only the partitions its node owned, so it "
            "cannot run alone. Multi-node clusters run over etcd now "
            "(--cluster.etcd); annals does not convert an old cluster's "
            "directories");
  }
  std::vector<uint64_t> out(store.partition_count(), 1);
  for (uint32_t p = 0; p < out.size(); ++p) {
    auto e = store.partition_epoch(p);
    if (!e)
      return std::move(e.error());
    out[p] = std::max<uint64_t>(*e, 1);
  }
  for (uint32_t p = 0; p < out.size(); ++p)
    rt.set_epoch(p, out[p]);
  return out;
}

} // namespace

node::node(caf::actor_system& sys, runtime& rt, caf::actor a, uint16_t port,
           std::string name)
  : sys_(sys), rt_(rt), actor_(std::move(a)), port_(port),
    name_(std::move(name)) {
}

node::~node() {
  stop();
}

caf::expected<std::unique_ptr<node>> node::start(caf::actor_system& sys,
                                                 runtime& rt, node_config cfg) {
  if (cfg.name.empty())
    return make_error(errc::invalid_command,
                      "a cluster node needs a name (--cluster.name)");
  if (cfg.tls) {
    if (auto err = check_tls(sys))
      return err;
  } else if (!cfg.insecure && !is_loopback(cfg.host)) {
    return make_error(
      errc::invalid_command,
      "--cluster.host=" + cfg.host
        + " without --cluster.tls would expose CAF's unauthenticated port "
          "(any peer can message the node, or make it allocate 4 GiB with "
          "one header): use --cluster.tls, or --cluster.insecure on a "
          "network you trust");
  }
  caf::actor mm
    = cfg.tls
        ? caf::actor_cast<caf::actor>(sys.openssl_manager().actor_handle())
        : caf::actor_cast<caf::actor>(sys.middleman().actor_handle());
  if (!cfg.seeds.empty())
    return make_error(
      errc::invalid_command,
      "--cluster.seeds is gone: the nodes of a multi-node cluster find each "
      "other through etcd (--cluster.etcd=HOST:PORT,...); without it a node "
      "runs alone");
  if (!cfg.etcd.empty())
    return start_replicated(sys, rt, std::move(cfg), std::move(mm));
  auto epochs = standalone_epochs(rt);
  if (!epochs)
    return std::move(epochs.error());
  auto out = launch(sys, rt, cfg, mm, std::move(*epochs));
  if (out)
    log(log_level::info, cfg.name + ": standalone node up (no etcd)");
  return out;
}

caf::expected<std::unique_ptr<node>>
node::launch(caf::actor_system& sys, runtime& rt, const node_config& cfg,
             const caf::actor& mm,
             std::optional<std::vector<uint64_t>> standalone) {
  member self{cfg.name, cfg.host, cfg.port};
  auto a
    = detail::spawn_node_actor(sys, rt, cfg, self, std::move(standalone), mm);
  rt.adopt(a);
  auto port = cfg.tls
                ? caf::openssl::publish(a, cfg.port, cfg.host.c_str(), true)
                : sys.middleman().publish(a, cfg.port, cfg.host.c_str(), true);
  if (!port) {
    caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
    return std::move(port.error());
  }
  std::unique_ptr<node> out{new node(sys, rt, a, *port, cfg.name)};
  // With port 0 the OS chose: the node's member record carries the real one.
  self.port = *port;
  caf::scoped_actor me{sys};
  caf::error err;
  me->request(a, std::chrono::seconds{10}, connected_atom::value, self)
    .receive([](caf::ok_atom) {}, [&](caf::error& e) { err = e; });
  if (err)
    return err;
  return out;
}

caf::expected<std::unique_ptr<node>>
node::start_replicated(caf::actor_system& sys, runtime& rt, node_config cfg,
                       caf::actor mm) {
  auto launched = launch(sys, rt, cfg, mm, std::nullopt);
  if (!launched)
    return launched;
  auto out = std::move(*launched);
  auto a = out->actor_;
  auto port = out->port_;
  caf::scoped_actor me{sys};
  caf::error err;
  // The driver starts after the replicator: learners reach it through a
  // slot the node fills once it exists (reports before that are dropped;
  // the replicator repeats them under the next map).
  auto promoter = std::make_shared<std::atomic<control::control_driver*>>();
  detail::replicator_config rc;
  rc.self = cfg.name;
  rc.on_caught_up = [promoter](partition_id p, const std::string& node,
                               const std::string& incarnation) {
    if (auto* d = promoter->load())
      d->report_caught_up(p, node, incarnation);
  };
  rc.on_stale_appointment = [promoter](partition_id p, uint64_t epoch) {
    if (auto* d = promoter->load())
      d->report_stale_appointment(p, epoch);
  };
  rc.on_settled = [promoter](partition_id p, uint64_t epoch) {
    if (auto* d = promoter->load())
      d->report_settled(p, epoch);
  };
  out->replicator_ = detail::spawn_replicator(sys, rt, std::move(rc), a);
  me->request(a, std::chrono::seconds{10}, detail::repl_local_atom::value,
              out->replicator_)
    .receive([](caf::ok_atom) {}, [&](caf::error& e) { err = e; });
  if (err)
    return err;
  control::driver_config dc;
  dc.etcd.endpoints = cfg.etcd;
  if (cfg.tls) {
    const auto& c = sys.config();
    dc.etcd.tls
      = etcd::tls_files{c.openssl_cafile, c.openssl_certificate, c.openssl_key};
  }
  dc.controller.cluster = cfg.cluster_name;
  dc.controller.self = cfg.name;
  dc.controller.plan.partitions = rt.store().partition_count();
  dc.controller.plan.rf = cfg.replication_factor;
  dc.controller.plan.vnodes = cfg.vnodes;
  dc.bootstrap_members = std::max<uint32_t>(1, cfg.initial_members);
  dc.self.incarnation = rt.store().incarnation();
  dc.self.address = cfg.host + ":" + std::to_string(port);
  auto name = cfg.name;
  auto in_map = std::make_shared<std::atomic<bool>>(false);
  out->in_map_ = in_map;
  auto driver = control::control_driver::start(
    std::move(dc),
    [a, in_map, name](const control::partition_map& map, std::string json) {
      in_map->store(map.find_member(name) != nullptr);
      caf::anon_send(a, detail::repl_map_atom::value, std::move(json));
    },
    [name](const std::string& what) {
      log(log_level::info, name + ": " + what);
    });
  if (!driver)
    return std::move(driver.error());
  out->driver_ = std::move(*driver);
  out->promoter_ = promoter;
  promoter->store(out->driver_.get());
  // A peer whose connection drops (a killed process) fails over at once
  // when this node is the controller, instead of after its lease's TTL.
  caf::anon_send(
    a, detail::repl_watch_atom::value,
    detail::peer_watch{[promoter](const std::string& peer, bool up) {
      if (auto* d = promoter->load())
        d->suspect(peer, !up);
    }});
  log(log_level::info, cfg.name + ": replicated node up (etcd "
                         + cfg.etcd.front() + ", replication factor "
                         + std::to_string(cfg.replication_factor) + ")");
  return out;
}

void node::stop() {
  if (stopped_)
    return;
  stopped_ = true;
  if (promoter_)
    promoter_->store(nullptr);
  if (driver_) // revokes the lease: the others fail over at once
    driver_->stop();
  if (replicator_) {
    // It uses the runtime: gone before the runtime can be.
    caf::scoped_actor me{sys_};
    me->monitor(replicator_);
    me->send_exit(replicator_, caf::exit_reason::user_shutdown);
    me->receive([](const caf::down_msg&) {},
                caf::after(std::chrono::seconds{10}) >> [] {});
  }
  caf::anon_send_exit(actor_, caf::exit_reason::user_shutdown);
}

caf::error node::leave(caf::timespan timeout) {
  if (!driver_)
    return make_error(errc::invalid_command,
                      "node " + name_
                        + " runs alone (no etcd): there is no cluster to "
                          "leave");
  auto deadline = std::chrono::steady_clock::now() + timeout;
  // Registered with intent `leave` (kept for every re-registration even if
  // etcd does not answer now); the controller does the rest.
  auto err = driver_->leave();
  while (err && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds{100});
    err = driver_->leave();
  }
  while (in_map_->load()) {
    if (std::chrono::steady_clock::now() >= deadline)
      return make_error(errc::unavailable,
                        "the leave did not finish in time: the partition map "
                        "still lists "
                          + name_ + " (it goes on)");
    std::this_thread::sleep_for(std::chrono::milliseconds{50});
  }
  return {};
}

caf::expected<cluster_status> node::status() const {
  caf::scoped_actor me{sys_};
  caf::expected<cluster_status> out{caf::error{}};
  me->request(actor_, std::chrono::seconds{10}, status_atom::value)
    .receive([&](cluster_status& s) { out = std::move(s); },
             [&](caf::error& e) { out = std::move(e); });
  if (out && driver_)
    out->lease_alive = driver_->status().lease_alive;
  return out;
}

std::string node::replication_status() const {
  if (!replicator_)
    return {};
  caf::scoped_actor me{sys_};
  std::string out;
  me->request(replicator_, std::chrono::seconds{10},
              detail::repl_status_atom::value)
    .receive([&](std::string& s) { out = std::move(s); },
             [&](caf::error& e) { out = "error " + render(e); });
  return out;
}

caf::expected<std::vector<replica_status>> node::replicas() const {
  if (!replicator_)
    return std::vector<replica_status>{};
  caf::scoped_actor me{sys_};
  caf::expected<std::vector<replica_status>> out{caf::error{}};
  me->request(replicator_, std::chrono::seconds{10},
              detail::repl_replicas_atom::value)
    .receive([&](std::vector<replica_status>& r) { out = std::move(r); },
             [&](caf::error& e) { out = std::move(e); });
  return out;
}

caf::error node::await_settled(caf::timespan timeout) const {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto s = status();
    if (!s)
      return s.error();
    if (s->settled)
      return {};
    if (std::chrono::steady_clock::now() >= deadline)
      return make_error(errc::unavailable,
                        "the cluster did not settle in time");
    std::this_thread::sleep_for(std::chrono::milliseconds{20});
  }
}

namespace {

// One short-lived actor per call: its request has no CAF timeout (the node
// actor bounds remote hops), so nothing outlives the reply.
caf::behavior
command_call(caf::event_based_actor* self, caf::actor target,
             command_envelope env,
             std::function<void(caf::expected<caf::message>)> done) {
  self->request(target, caf::infinite, std::move(env))
    .then(
      [self, done](routed_reply& r) {
        done(std::move(r.value));
        self->quit();
      },
      [self, done](caf::error& err) {
        done(std::move(err));
        self->quit();
      });
  return {[](caf::ok_atom) {}};
}

caf::behavior read_call(
  caf::event_based_actor* self, caf::actor target, stream_id stream,
  revision from, uint32_t max,
  std::function<void(caf::expected<std::vector<recorded_event>>)> done) {
  self
    ->request(target, caf::infinite, read_atom::value, stream.category,
              stream.id, from, max, uint32_t{0})
    .then(
      [self, done](fetch_reply& r) {
        std::vector<recorded_event> out;
        out.reserve(r.events.size());
        for (auto& w : r.events)
          out.push_back(from_wire(w));
        done(std::move(out));
        self->quit();
      },
      [self, done](caf::error& err) {
        done(std::move(err));
        self->quit();
      });
  return {[](caf::ok_atom) {}};
}

} // namespace

void node::send(command_envelope env,
                std::function<void(caf::expected<caf::message>)> done) {
  env.boxed_reply = true;
  sys_.spawn(command_call, actor_, std::move(env), std::move(done));
}

void node::read_stream(
  stream_id stream, revision from, uint32_t max,
  std::function<void(caf::expected<std::vector<recorded_event>>)> done) {
  sys_.spawn(read_call, actor_, std::move(stream), from, max, std::move(done));
}

std::shared_ptr<annals::detail::cursor_probe>
node::make_probe(std::string consumer) {
  auto probe = std::make_shared<annals::detail::cursor_probe>(
    0, std::move(consumer), rt_.store().partition_count());
  std::lock_guard guard{probes_mtx_};
  probes_.erase(std::remove_if(probes_.begin(), probes_.end(),
                               [](const auto& w) { return w.expired(); }),
                probes_.end());
  probes_.push_back(probe);
  return probe;
}

std::vector<subscription_progress> node::subscriptions() const {
  std::vector<std::shared_ptr<annals::detail::cursor_probe>> probes;
  {
    std::lock_guard guard{probes_mtx_};
    for (const auto& w : probes_)
      if (auto p = w.lock())
        probes.push_back(std::move(p));
  }
  std::vector<subscription_progress> out;
  for (const auto& p : probes) {
    subscription_progress sp;
    sp.consumer = p->consumer;
    sp.started = p->started.load(std::memory_order_acquire);
    sp.lag_events = sp.started ? p->lag() : 0;
    out.push_back(std::move(sp));
  }
  return out;
}

void node::subscribe(subscription_filter filter, event_handler f) {
  auto sub = rt_.spawn_callback_adapter(std::move(f));
  auto cur = detail::spawn_cluster_cursor(
    sys_, actor_, sub, rt_.store().partition_count(), filter.category,
    filter.id, {}, 1024, make_probe({}));
  rt_.adopt(cur);
  caf::anon_send(sub, watch_atom::value, cur);
}

void node::project(const std::string& name, subscription_filter filter,
                   projection_handler f) {
  auto model = model_name(name);
  auto parts = rt_.store().partition_count();
  std::vector<uint64_t> after(parts, 0);
  for (uint32_t p = 0; p < parts; ++p)
    if (auto cp = rt_.store().load_checkpoint(model, p); cp && *cp)
      after[p] = **cp;
  auto sub = rt_.spawn_projection_adapter(model, std::move(f));
  auto cur = detail::spawn_cluster_cursor(
    sys_, actor_, sub, parts, filter.category, filter.id, std::move(after),
    1024, make_probe(model));
  rt_.adopt(cur);
  caf::anon_send(sub, watch_atom::value, cur);
}

} // namespace annals::cluster
