// annals -- event-sourced aggregates on the C++ Actor Framework.
#include "control/map_store.hpp"

#include "control/control_errc.hpp"
#include "control/registration.hpp"

namespace annals::cluster::control {

caf::expected<std::optional<map_read>>
decode_map_key(const std::vector<etcd::key_value>& kvs) {
  if (kvs.empty())
    return std::optional<map_read>{};
  auto map = decode_partition_map(kvs.front().value);
  if (!map) {
    auto err = map.error();
    auto code = static_cast<control_errc>(err.code());
    return make_error(code, describe(err) + " (map key at mod revision "
                              + std::to_string(kvs.front().mod_revision) + ")");
  }
  return std::optional<map_read>{
    map_read{std::move(*map), kvs.front().mod_revision, kvs.front().value}};
}

caf::expected<std::optional<map_read>> read_map(const etcd::client& c,
                                                const cluster_keys& keys) {
  auto got = c.get(keys.map());
  if (!got)
    return got.error();
  return decode_map_key(got->kvs);
}

std::vector<live_member> decode_members(const cluster_keys& keys,
                                        const std::vector<etcd::key_value>& kvs,
                                        uint64_t* malformed) {
  std::vector<live_member> out;
  auto prefix = keys.members_prefix();
  for (const auto& kv : kvs) {
    auto reg = decode_registration(kv.value);
    if (kv.key.size() <= prefix.size()
        || kv.key.compare(0, prefix.size(), prefix) != 0 || !reg) {
      if (malformed != nullptr)
        ++*malformed;
      continue;
    }
    out.push_back({kv.key.substr(prefix.size()), std::move(reg->incarnation),
                   std::move(reg->address), reg->intent});
  }
  return out;
}

} // namespace annals::cluster::control
