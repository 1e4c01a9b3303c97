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

} // namespace annals
