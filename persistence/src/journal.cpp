// annals -- event-sourced aggregates on the C++ Actor Framework.
#include "annals/persistence/journal.hpp"

namespace annals {

journal::~journal() = default;

caf::expected<append_result> journal::append(append_request req) {
  write_batch batch;
  batch.appends.push_back(std::move(req));
  auto res = commit(batch);
  if (!res)
    return std::move(res.error());
  return std::move(res->appends.front());
}

caf::expected<std::vector<recorded_event>>
journal::read_stream(const stream_id& stream, revision from,
                     std::size_t max) const {
  std::vector<recorded_event> out;
  if (max == 0)
    return out;
  auto err = scan_stream(stream, from, [&](const event_view& ev) {
    out.push_back(ev.to_event());
    return out.size() < max;
  });
  if (err)
    return err;
  return out;
}

caf::expected<std::vector<recorded_event>>
journal::read_partition(partition_id p, position from, std::size_t max) const {
  std::vector<recorded_event> out;
  if (max == 0)
    return out;
  auto err = scan_partition(p, from, [&](const event_view& ev) {
    out.push_back(ev.to_event());
    return out.size() < max;
  });
  if (err)
    return err;
  return out;
}

} // namespace annals
