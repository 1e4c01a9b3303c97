// annals -- libFuzzer target: a stored journal record. Decodes the input as
// stored (the checksum almost always fails), then with its checksum made
// valid so the structure parser sees every input; a record that decodes
// must encode back to the same bytes.
#include "codec.hpp"
#include "crc32c.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace annals::detail;
  (void)decode_record(data, size, "fuzz");
  if (size < 5)
    return 0;
  std::string buf{reinterpret_cast<const char*>(data), size};
  auto crc = crc32c(buf.data() + 4, buf.size() - 4);
  for (size_t i = 0; i < 4; ++i)
    buf[i] = static_cast<char>(crc >> (8 * i));
  annals::event_view view;
  auto fault = decode_record_view(buf.data(), buf.size(), view);
  auto ev = decode_record(buf.data(), buf.size(), "fuzz");
  if ((fault == record_fault::none) != static_cast<bool>(ev))
    std::abort(); // the two decoders disagree
  if (ev) {
    std::string again;
    encode_record(*ev, again);
    if (again != buf)
      std::abort(); // decode is not the inverse of encode
  }
  return 0;
}
