// annals -- libFuzzer target: the cluster's own messages. The first byte
// picks a wire type, the rest is decoded into it with CAF's
// binary_deserializer (what BASP does with a message from a peer); type 0 is
// the stored cluster view (`decode_view`), which must survive a round trip.
#include "annals/cluster/view.hpp"

#include "protocol.hpp"

#include <caf/binary_deserializer.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
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
  switch (data[0] % 8) {
  case 0: {
    auto v = decode_view(std::string{rest, n});
    if (v) {
      auto again = decode_view(encode_view(*v));
      if (!again || again->version != v->version || again->members != v->members
          || again->previous != v->previous || again->epochs != v->epochs)
        std::abort(); // a decoded view does not survive a round trip
    }
    break;
  }
  case 1:
    decode<ship_request>(rest, n);
    break;
  case 2:
    decode<ship_reply>(rest, n);
    break;
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
    decode<wire_snapshot>(rest, n);
    break;
  default:
    decode<wire_checkpoint>(rest, n);
    break;
  }
  return 0;
}
