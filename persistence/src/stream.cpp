// annals -- event-sourced aggregates on the C++ Actor Framework.
#include "annals/persistence/stream.hpp"

namespace annals {

std::string to_string(const stream_id& x) {
  std::string out;
  out.reserve(x.category.size() + x.id.size() + 1);
  out += x.category;
  out += '/';
  out += x.id;
  return out;
}

namespace {

constexpr uint64_t fnv_offset = 0xcbf29ce484222325ULL;
constexpr uint64_t fnv_prime = 0x100000001b3ULL;

uint64_t fnv1a(uint64_t h, std::string_view bytes) noexcept {
  for (unsigned char c : bytes) {
    h ^= c;
    h *= fnv_prime;
  }
  return h;
}

} // namespace

uint64_t stream_hash(const stream_id& x) noexcept {
  auto h = fnv1a(fnv_offset, x.category);
  h ^= 0u; // the 0x00 separator
  h *= fnv_prime;
  return fnv1a(h, x.id);
}

partition_id partition_of(const stream_id& x,
                          uint32_t partition_count) noexcept {
  return static_cast<partition_id>(stream_hash(x) % partition_count);
}

} // namespace annals
