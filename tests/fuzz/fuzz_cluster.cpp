// annals -- libFuzzer target: the cluster's own messages. The first byte
// picks a wire type, the rest is decoded into it with CAF's
// binary_deserializer (what BASP does with a message from a peer), or
// unpacked as a batch of replication frames and each frame decoded.
#include "annals/cluster/view.hpp"

#include "protocol.hpp"
#include "replication/wire.hpp"

#include <caf/binary_deserializer.hpp>

#include <cstddef>
#include <cstdint>
#include <string>

namespace {

template <class T>
void decode(const char* data, size_t size) {
  T x;
  caf::binary_deserializer source{nullptr, data, size};
  (void)source(x);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace annals::cluster;
  if (size == 0)
    return 0;
  auto rest = reinterpret_cast<const char*>(data + 1);
  auto n = size - 1;
  // The numbers of the types kept stable for the corpus files.
  switch (data[0] % 8) {
  case 3:
    decode<fetch_request>(rest, n);
    break;
  case 4:
    decode<fetch_reply>(rest, n);
    break;
  case 5:
    decode<wire_event>(rest, n);
    break;
  case 6:
    if (auto frames = annals::replication::decode_frames({rest, n}))
      for (const auto& f : *frames)
        (void)annals::replication::decode_message(f.bytes);
    break;
  default: // the hello's member record
    decode<member>(rest, n);
    break;
  }
  return 0;
}
