// annals -- event-sourced aggregates on the C++ Actor Framework.
#include "etcd/etcd_errc.hpp"

#include <caf/make_message.hpp>
#include <caf/message.hpp>

namespace annals::cluster::etcd {

const char* to_string(etcd_errc x) noexcept {
  switch (x) {
  case etcd_errc::unavailable:
    return "unavailable";
  case etcd_errc::timeout:
    return "timeout";
  case etcd_errc::rejected:
    return "rejected";
  case etcd_errc::malformed_response:
    return "malformed_response";
  case etcd_errc::compacted:
    return "compacted";
  case etcd_errc::lease_not_found:
    return "lease_not_found";
  case etcd_errc::invalid_argument:
    return "invalid_argument";
  }
  return "unknown";
}

caf::error make_error(etcd_errc x, std::string description) {
  return caf::error{static_cast<uint8_t>(x), etcd_category,
                    caf::make_message(std::move(description))};
}

caf::error make_rejected(std::string description, int32_t grpc_code) {
  // etcd answers NotFound (5) with this text for a lease that is gone
  // (keep-alive, revoke, time-to-live, a put naming the lease).
  auto code = description.find("requested lease not found") != std::string::npos
                ? etcd_errc::lease_not_found
                : etcd_errc::rejected;
  return caf::error{static_cast<uint8_t>(code), etcd_category,
                    caf::make_message(std::move(description), grpc_code)};
}

caf::error make_compacted(std::string description, int64_t compact_revision) {
  return caf::error{
    static_cast<uint8_t>(etcd_errc::compacted), etcd_category,
    caf::make_message(std::move(description), compact_revision)};
}

bool is(const caf::error& err, etcd_errc x) noexcept {
  return err && err.category() == etcd_category
         && err.code() == static_cast<uint8_t>(x);
}

std::optional<int32_t> grpc_code(const caf::error& err) {
  if (!err || err.category() != etcd_category)
    return std::nullopt;
  const auto& ctx = err.context();
  if (ctx.size() == 2 && ctx.match_element<int32_t>(1))
    return ctx.get_as<int32_t>(1);
  return std::nullopt;
}

std::optional<int64_t> compact_revision(const caf::error& err) {
  if (!is(err, etcd_errc::compacted))
    return std::nullopt;
  const auto& ctx = err.context();
  if (ctx.size() == 2 && ctx.match_element<int64_t>(1))
    return ctx.get_as<int64_t>(1);
  return std::nullopt;
}

std::string describe(const caf::error& err) {
  if (!err)
    return "ok";
  if (err.category() != etcd_category)
    return caf::to_string(err);
  std::string out = "etcd.";
  out += to_string(static_cast<etcd_errc>(err.code()));
  const auto& ctx = err.context();
  if (!ctx.empty() && ctx.match_element<std::string>(0)) {
    out += ": ";
    out += ctx.get_as<std::string>(0);
  }
  if (auto code = grpc_code(err))
    out += " (gRPC code " + std::to_string(*code) + ")";
  return out;
}

} // namespace annals::cluster::etcd
