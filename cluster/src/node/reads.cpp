// annals -- event-sourced aggregates on the C++ Actor Framework.
#include "node/reads.hpp"

#include "annals/errc.hpp"
#include "annals/runtime_types.hpp"

#include <algorithm>
#include <set>

namespace annals::cluster::detail {

namespace {

caf::error unavailable(std::string what) {
  return make_error(errc::unavailable, std::move(what));
}

/// How long a fetch with nothing new waits for an append.
constexpr auto poll_window = std::chrono::seconds{1};

} // namespace

reads::reads(node_context ctx) : ctx_(ctx) {
}

void reads::read(std::string category, std::string id, uint64_t from,
                 uint32_t max, uint32_t hops, caf::response_promise rp) {
  if (ctx_.table.empty() || category.empty() || id.empty()) {
    rp.deliver(unavailable("no partition map yet, or no stream given"));
    return;
  }
  stream_id sid{category, id};
  auto p = ctx_.table.partition_of(sid);
  const auto& leader = ctx_.table.leader(p);
  if (leader == ctx_.peers.self().name) {
    if (ctx_.table.phase_of(p) != phase::serving) {
      rp.deliver(unavailable("partition " + std::to_string(p)
                             + " is not served yet on node " + leader));
      return;
    }
    fetch_reply out;
    auto visible = ctx_.rt.visible_end(p);
    auto err = ctx_.rt.store().scan_stream(
      sid, std::max<uint64_t>(from, 1), [&](const event_view& ev) {
        if (ev.pos > visible || out.events.size() >= max)
          return false;
        out.events.push_back(to_wire(ev));
        return true;
      });
    if (err)
      rp.deliver(std::move(err));
    else
      rp.deliver(std::move(out));
    return;
  }
  if (hops >= 3 || !ctx_.peers.root_of(leader)) {
    rp.deliver(unavailable("partition " + std::to_string(p) + "'s leader "
                           + leader + " is unreachable"));
    return;
  }
  ask_peer(leader, ctx_.request_timeout, std::move(rp),
           caf::make_message(read_atom::value, std::move(category),
                             std::move(id), from, max, hops + 1));
}

void reads::ask_peer(const std::string& name, caf::timespan timeout,
                     caf::response_promise rp, caf::message msg) {
  auto to = ctx_.peers.root_of(name);
  auto id = ctx_.calls.track(name, std::nullopt, std::move(rp), timeout);
  ctx_.self->request(to, caf::infinite, std::move(msg))
    .then(
      [this, id](fetch_reply& rep) {
        if (auto c = ctx_.calls.finish(id))
          c->rp.deliver(std::move(rep));
      },
      [this, id](caf::error& err) {
        if (auto c = ctx_.calls.finish(id))
          c->rp.deliver(std::move(err));
      });
}

void reads::fetch_remote(const std::string& name, fetch_request req,
                         caf::response_promise rp) {
  if (name == ctx_.peers.self().name) {
    fetch_local(std::move(req), std::move(rp));
    return;
  }
  if (!ctx_.peers.root_of(name)) {
    rp.deliver(unavailable("node " + name + " is unreachable"));
    return;
  }
  // The deadline: the poll's own window plus the request timeout.
  ask_peer(name, ctx_.request_timeout + poll_window, std::move(rp),
           caf::make_message(fetch_atom::value, std::move(req)));
}

void reads::fetch_local(fetch_request req, caf::response_promise rp) {
  if (!try_fetch(req, rp))
    polls_.push_back({std::move(req), rp, clock::now() + poll_window});
}

bool reads::try_fetch(fetch_request& req, caf::response_promise& rp,
                      bool force) {
  auto& store = ctx_.rt.store();
  auto parts = ctx_.table.size();
  fetch_reply out;
  bool moved = false;
  bool all_read = true; // every partition read to its end
  for (std::size_t i = 0; i < req.partitions.size(); ++i) {
    auto p = req.partitions[i];
    auto after = i < req.after.size() ? req.after[i] : 0;
    auto reached = after;
    bool to_end = false;
    if (p < parts && out.events.size() < req.max_events) {
      to_end = true;
      auto visible = ctx_.rt.visible_end(p);
      auto err = store.scan_partition(p, after + 1, [&](const event_view& ev) {
        if (ev.pos > visible) // not replicated yet
          return false;
        if (out.events.size() >= req.max_events) {
          to_end = false;
          return false;
        }
        reached = ev.pos;
        if ((req.category.empty() || ev.category == req.category)
            && (req.id.empty() || ev.id == req.id))
          out.events.push_back(to_wire(ev));
        return true;
      });
      to_end = to_end && !err;
    }
    moved = moved || reached != after;
    out.reached.push_back(reached);
    out.ends.push_back(to_end ? reached : 0);
    all_read = all_read && (to_end || p >= parts);
  }
  if (!moved && !force)
    return false;
  if (!all_read)
    if (auto ends = store.partition_ends())
      for (std::size_t i = 0; i < req.partitions.size(); ++i)
        if (auto p = req.partitions[i]; p < ends->size())
          out.ends[i] = std::max(out.ends[i],
                                 std::min((*ends)[p], ctx_.rt.visible_end(p)));
  rp.deliver(std::move(out));
  return true;
}

void reads::wake(const std::vector<partition_id>& touched) {
  if (polls_.empty())
    return;
  std::set<partition_id> t(touched.begin(), touched.end());
  for (auto it = polls_.begin(); it != polls_.end();) {
    bool hit = std::any_of(it->req.partitions.begin(), it->req.partitions.end(),
                           [&t](partition_id p) { return t.count(p) > 0; });
    if (hit && try_fetch(it->req, it->rp))
      it = polls_.erase(it);
    else
      ++it;
  }
}

void reads::tick(clock::time_point now) {
  for (auto it = polls_.begin(); it != polls_.end();) {
    if (it->deadline <= now) {
      try_fetch(it->req, it->rp, true);
      it = polls_.erase(it);
    } else {
      ++it;
    }
  }
}

} // namespace annals::cluster::detail
