// annals -- event-sourced aggregates on the C++ Actor Framework.
// Part of the replication core (internal): little-endian integers and
// length-prefixed strings for entries and wire messages.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace annals::replication {

/// Appends little-endian numbers and length-prefixed strings to a string.
class byte_writer {
public:
  explicit byte_writer(std::string& out) : out_(out) {
  }

  template <class T>
  void num(T x) {
    for (std::size_t i = 0; i < sizeof(T); ++i) {
      out_.push_back(
        static_cast<char>(static_cast<uint64_t>(x) >> (8 * i) & 0xff));
    }
  }

  /// @pre `x.size() <= 65535` (the journal's own bound on names and ids).
  void str16(std::string_view x) {
    num(static_cast<uint16_t>(x.size()));
    out_.append(x);
  }

  void str32(std::string_view x) {
    num(static_cast<uint32_t>(x.size()));
    out_.append(x);
  }

private:
  std::string& out_;
};

/// Reads what `byte_writer` wrote. A read past the end yields zeros and
/// clears `ok()` for good; callers check `ok()` (and `done()`) once at the
/// end.
class byte_reader {
public:
  explicit byte_reader(std::string_view in) : in_(in) {
  }

  template <class T>
  T num() {
    if (in_.size() < sizeof(T)) {
      ok_ = false;
      return T{};
    }
    uint64_t x = 0;
    for (std::size_t i = 0; i < sizeof(T); ++i) {
      x |= uint64_t{static_cast<unsigned char>(in_[i])} << (8 * i);
    }
    in_.remove_prefix(sizeof(T));
    return static_cast<T>(x);
  }

  std::string_view bytes(std::size_t n) {
    if (!ok_ || in_.size() < n) {
      ok_ = false;
      return {};
    }
    auto x = in_.substr(0, n);
    in_.remove_prefix(n);
    return x;
  }

  std::string str16() {
    auto n = num<uint16_t>();
    return std::string{bytes(n)};
  }

  std::string_view str32() {
    auto n = num<uint32_t>();
    return bytes(n);
  }

  bool ok() const noexcept {
    return ok_;
  }

  std::size_t remaining() const noexcept {
    return in_.size();
  }

  bool done() const noexcept {
    return in_.empty();
  }

private:
  std::string_view in_;
  bool ok_ = true;
};

} // namespace annals::replication
