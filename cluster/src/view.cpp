// annals -- event-sourced aggregates on the C++ Actor Framework.
#include "annals/cluster/view.hpp"

#include "annals/cluster/ring.hpp"
#include "annals/errc.hpp"

#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>

#include <algorithm>

namespace annals::cluster {

const member* view::find(const std::string& name) const noexcept {
  for (const auto& m : members)
    if (m.name == name)
      return &m;
  return nullptr;
}

std::vector<std::string> owners_of(const std::vector<member>& members,
                                   uint32_t partitions, uint32_t vnodes) {
  if (members.empty())
    return {};
  ring r{vnodes};
  for (const auto& m : members)
    r.add(m.name);
  return r.owners(partitions);
}

view first_view(member self, uint32_t partitions) {
  view v;
  v.version = 1;
  v.members.push_back(std::move(self));
  v.epochs.assign(partitions, 1);
  return v;
}

view next_view(const view& old, std::vector<member> members,
               uint32_t partitions, uint32_t vnodes) {
  std::sort(members.begin(), members.end(),
            [](const member& a, const member& b) { return a.name < b.name; });
  view v;
  v.version = old.version + 1;
  v.previous = old.members;
  v.members = std::move(members);
  auto before = owners_of(old.members, partitions, vnodes);
  auto after = owners_of(v.members, partitions, vnodes);
  v.epochs = old.epochs;
  v.epochs.resize(partitions, 0);
  for (uint32_t p = 0; p < partitions; ++p)
    if (before.empty() || after.empty() || before[p] != after[p])
      v.epochs[p] = v.version;
  return v;
}

std::string encode_view(const view& v) {
  std::vector<char> buf;
  caf::binary_serializer sink{nullptr, buf};
  auto copy = v;
  if (auto err = sink(copy))
    return {};
  return std::string{buf.begin(), buf.end()};
}

caf::expected<view> decode_view(const std::string& bytes) {
  view v;
  caf::binary_deserializer source{nullptr, bytes.data(), bytes.size()};
  if (auto err = source(v))
    return make_error(errc::malformed_payload, "stored cluster view");
  return v;
}

} // namespace annals::cluster
