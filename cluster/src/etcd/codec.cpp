// annals -- event-sourced aggregates on the C++ Actor Framework.
#include "etcd/codec.hpp"

#include "etcd/etcd_errc.hpp"

#include <array>
#include <charconv>

namespace annals::cluster::etcd::detail {

namespace {

constexpr char alphabet[]
  = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

constexpr std::array<int8_t, 256> make_reverse() {
  std::array<int8_t, 256> out{};
  for (auto& x : out)
    x = -1;
  for (int i = 0; i < 64; ++i)
    out[static_cast<unsigned char>(alphabet[i])] = static_cast<int8_t>(i);
  return out;
}

constexpr auto reverse = make_reverse();

// gRPC status codes that etcd uses for "try again elsewhere or later".
constexpr int32_t grpc_deadline_exceeded = 4;
constexpr int32_t grpc_unavailable = 14;

} // namespace

std::string base64_encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  auto at = [&](size_t k) {
    return static_cast<uint32_t>(static_cast<unsigned char>(bytes[k]));
  };
  for (; i + 3 <= bytes.size(); i += 3) {
    auto n = (at(i) << 16) | (at(i + 1) << 8) | at(i + 2);
    out += alphabet[(n >> 18) & 63];
    out += alphabet[(n >> 12) & 63];
    out += alphabet[(n >> 6) & 63];
    out += alphabet[n & 63];
  }
  if (auto rest = bytes.size() - i; rest == 1) {
    auto n = at(i) << 16;
    out += alphabet[(n >> 18) & 63];
    out += alphabet[(n >> 12) & 63];
    out += "==";
  } else if (rest == 2) {
    auto n = (at(i) << 16) | (at(i + 1) << 8);
    out += alphabet[(n >> 18) & 63];
    out += alphabet[(n >> 12) & 63];
    out += alphabet[(n >> 6) & 63];
    out += '=';
  }
  return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
  while (!text.empty() && text.back() == '=')
    text.remove_suffix(1);
  if (text.size() % 4 == 1)
    return std::nullopt;
  std::string out;
  out.reserve(text.size() * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    auto v = reverse[static_cast<unsigned char>(c)];
    if (v < 0)
      return std::nullopt;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  return out;
}

std::optional<int64_t> int_field(const nlohmann::json& obj, const char* name) {
  if (!obj.is_object())
    return std::nullopt;
  auto it = obj.find(name);
  if (it == obj.end() || it->is_null())
    return int64_t{0};
  if (it->is_number_integer())
    return it->get<int64_t>();
  if (!it->is_string())
    return std::nullopt;
  const auto& s = it->get_ref<const std::string&>();
  int64_t value = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc{} || end != s.data() + s.size() || s.empty())
    return std::nullopt;
  return value;
}

std::optional<bool> bool_field(const nlohmann::json& obj, const char* name) {
  if (!obj.is_object())
    return std::nullopt;
  auto it = obj.find(name);
  if (it == obj.end() || it->is_null())
    return false;
  if (!it->is_boolean())
    return std::nullopt;
  return it->get<bool>();
}

std::optional<std::string> bytes_field(const nlohmann::json& obj,
                                       const char* name) {
  if (!obj.is_object())
    return std::nullopt;
  auto it = obj.find(name);
  if (it == obj.end() || it->is_null())
    return std::string{};
  if (!it->is_string())
    return std::nullopt;
  return base64_decode(it->get_ref<const std::string&>());
}

std::optional<key_value> decode_kv(const nlohmann::json& obj) {
  auto key = bytes_field(obj, "key");
  auto value = bytes_field(obj, "value");
  auto create = int_field(obj, "create_revision");
  auto mod = int_field(obj, "mod_revision");
  auto version = int_field(obj, "version");
  auto lease = int_field(obj, "lease");
  if (!key || !value || !create || !mod || !version || !lease)
    return std::nullopt;
  return key_value{std::move(*key), std::move(*value), *create, *mod, *version,
                   *lease};
}

std::optional<int64_t> header_revision(const nlohmann::json& obj) {
  if (!obj.is_object())
    return std::nullopt;
  auto it = obj.find("header");
  if (it == obj.end())
    return int64_t{0};
  return int_field(*it, "revision");
}

std::optional<range_result> decode_range(const nlohmann::json& obj) {
  range_result out;
  auto rev = header_revision(obj);
  auto count = int_field(obj, "count");
  auto more = bool_field(obj, "more");
  if (!rev || !count || !more)
    return std::nullopt;
  out.revision = *rev;
  out.count = *count;
  out.more = *more;
  if (auto it = obj.find("kvs"); it != obj.end() && !it->is_null()) {
    if (!it->is_array())
      return std::nullopt;
    for (const auto& x : *it) {
      auto kv = decode_kv(x);
      if (!kv)
        return std::nullopt;
      out.kvs.push_back(std::move(*kv));
    }
  }
  return out;
}

caf::error decode_error_body(const nlohmann::json& obj,
                             const std::string& where) {
  if (!obj.is_object())
    return {};
  auto it = obj.find("error");
  if (it == obj.end())
    return {};
  std::string message;
  std::optional<int64_t> code;
  if (it->is_object()) {
    code = int_field(*it, "grpc_code");
    if (auto m = it->find("message"); m != it->end() && m->is_string())
      message = m->get<std::string>();
  } else {
    code = int_field(obj, "code");
    if (auto m = obj.find("message"); m != obj.end() && m->is_string())
      message = m->get<std::string>();
    else if (it->is_string())
      message = it->get<std::string>();
  }
  if (!code)
    return make_error(etcd_errc::malformed_response,
                      where + ": an error body without a valid code");
  auto grpc = static_cast<int32_t>(*code);
  auto text = where + ": " + message;
  if (grpc == grpc_unavailable)
    return make_error(etcd_errc::unavailable, text);
  if (grpc == grpc_deadline_exceeded)
    return make_error(etcd_errc::timeout, text);
  return make_rejected(text, grpc);
}

nlohmann::json parse_json(std::string_view text) {
  return nlohmann::json::parse(text.begin(), text.end(), nullptr, false);
}

} // namespace annals::cluster::etcd::detail
