// annals -- event-sourced aggregates on the C++ Actor Framework.
#include "crc32c.hpp"

#include <array>
#include <cstring>

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

namespace annals::detail {

namespace {

constexpr uint32_t poly = 0x82f63b78u; // reflected Castagnoli polynomial

constexpr std::array<uint32_t, 256> make_table() {
  std::array<uint32_t, 256> t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k)
      c = (c & 1u) ? (c >> 1) ^ poly : c >> 1;
    t[i] = c;
  }
  return t;
}

constexpr auto table = make_table();

uint32_t crc_table(const unsigned char* p, std::size_t n, uint32_t c) {
  for (std::size_t i = 0; i < n; ++i)
    c = table[(c ^ p[i]) & 0xffu] ^ (c >> 8);
  return c;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) uint32_t crc_hw(const unsigned char* p,
                                                  std::size_t n, uint32_t c) {
  uint64_t c64 = c;
  while (n >= 8) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    c64 = _mm_crc32_u64(c64, v);
    p += 8;
    n -= 8;
  }
  c = static_cast<uint32_t>(c64);
  while (n > 0) {
    c = _mm_crc32_u8(c, *p++);
    --n;
  }
  return c;
}

const bool have_hw = __builtin_cpu_supports("sse4.2");
#endif

} // namespace

uint32_t crc32c(const void* data, std::size_t len, uint32_t crc) noexcept {
  auto p = static_cast<const unsigned char*>(data);
  uint32_t c = ~crc;
#if defined(__x86_64__)
  if (have_hw)
    return ~crc_hw(p, len, c);
#endif
  return ~crc_table(p, len, c);
}

} // namespace annals::detail
