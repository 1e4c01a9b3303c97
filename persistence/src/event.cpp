// annals -- event-sourced aggregates on the C++ Actor Framework.
#include "annals/persistence/event.hpp"

#include <cstring>

namespace annals {

std::vector<std::byte> to_bytes(std::string_view str) {
  std::vector<std::byte> out(str.size());
  if (!str.empty())
    std::memcpy(out.data(), str.data(), str.size());
  return out;
}

std::string bytes_to_string(const std::vector<std::byte>& bytes) {
  return std::string{reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

} // namespace annals
