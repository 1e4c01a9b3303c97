// annals -- libFuzzer target: a stored snapshot. As fuzz_record: decoded as
// stored, then with a valid checksum; a snapshot that decodes must encode
// back to the same bytes.
#include "codec.hpp"
#include "crc32c.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace annals::detail;
  (void)decode_snapshot(data, size, "fuzz");
  if (size < 5)
    return 0;
  std::string buf{reinterpret_cast<const char*>(data), size};
  auto crc = crc32c(buf.data() + 4, buf.size() - 4);
  for (size_t i = 0; i < 4; ++i)
    buf[i] = static_cast<char>(crc >> (8 * i));
  if (auto s = decode_snapshot(buf.data(), buf.size(), "fuzz")) {
    std::string again;
    encode_snapshot(*s, again);
    if (again != buf)
      std::abort(); // decode is not the inverse of encode
  }
  return 0;
}
