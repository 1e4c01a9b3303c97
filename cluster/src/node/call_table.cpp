// annals -- event-sourced aggregates on the C++ Actor Framework.
#include "node/call_table.hpp"

namespace annals::cluster::detail {

uint64_t call_table::track(std::string node,
                           std::optional<partition_id> partition,
                           caf::response_promise rp, caf::timespan timeout) {
  auto id = next_++;
  calls_.emplace(id, call{std::move(node), partition, std::move(rp),
                          clock::now() + timeout});
  return id;
}

std::optional<call_table::call> call_table::finish(uint64_t id) {
  auto it = calls_.find(id);
  if (it == calls_.end())
    return std::nullopt;
  auto c = std::move(it->second);
  calls_.erase(it);
  return c;
}

template <class Pred>
std::vector<call_table::call> call_table::take_if(Pred pred) {
  std::vector<call> out;
  for (auto it = calls_.begin(); it != calls_.end();) {
    if (pred(it->second)) {
      out.push_back(std::move(it->second));
      it = calls_.erase(it);
    } else {
      ++it;
    }
  }
  return out;
}

std::vector<call_table::call> call_table::take_expired(clock::time_point now) {
  return take_if([now](const call& c) { return c.deadline <= now; });
}

std::vector<call_table::call> call_table::take_to(const std::string& node) {
  return take_if([&node](const call& c) { return c.node == node; });
}

} // namespace annals::cluster::detail
