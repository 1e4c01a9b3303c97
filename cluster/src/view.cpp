// annals -- event-sourced aggregates on the C++ Actor Framework.
#include "annals/cluster/view.hpp"

namespace annals::cluster {

const member* view::find(const std::string& name) const noexcept {
  for (const auto& m : members)
    if (m.name == name)
      return &m;
  return nullptr;
}

} // namespace annals::cluster
