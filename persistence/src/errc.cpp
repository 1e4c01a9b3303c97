// annals -- event-sourced aggregates on the C++ Actor Framework.
#include "annals/persistence/errc.hpp"

#include <caf/message.hpp>

namespace annals {

const char* to_string(journal_errc x) noexcept {
  switch (x) {
  case journal_errc::wrong_expected_revision:
    return "wrong_expected_revision";
  case journal_errc::invalid_argument:
    return "invalid_argument";
  case journal_errc::too_large:
    return "too_large";
  case journal_errc::journal_full:
    return "journal_full";
  case journal_errc::io_error:
    return "io_error";
  case journal_errc::corrupt_record:
    return "corrupt_record";
  case journal_errc::corrupt_snapshot:
    return "corrupt_snapshot";
  case journal_errc::corrupt_storage:
    return "corrupt_storage";
  case journal_errc::partition_count_mismatch:
    return "partition_count_mismatch";
  case journal_errc::unsupported_format:
    return "unsupported_format";
  case journal_errc::locked:
    return "locked";
  case journal_errc::storage_error:
    return "storage_error";
  case journal_errc::failed:
    return "failed";
  case journal_errc::stale_epoch:
    return "stale_epoch";
  case journal_errc::read_only:
    return "read_only";
  case journal_errc::wrong_expected_position:
    return "wrong_expected_position";
  }
  return "unknown";
}

caf::error make_error(journal_errc x) {
  return caf::error{static_cast<uint8_t>(x), journal_category};
}

caf::error make_error(journal_errc x, std::string description) {
  return caf::error{static_cast<uint8_t>(x), journal_category,
                    caf::make_message(std::move(description))};
}

caf::error make_conflict_error(std::string description, uint64_t actual) {
  return caf::error{static_cast<uint8_t>(journal_errc::wrong_expected_revision),
                    journal_category,
                    caf::make_message(std::move(description), actual)};
}

std::optional<uint64_t> actual_revision(const caf::error& err) {
  if (!is(err, journal_errc::wrong_expected_revision))
    return std::nullopt;
  const auto& ctx = err.context();
  if (ctx.size() == 2 && ctx.match_element<uint64_t>(1))
    return ctx.get_as<uint64_t>(1);
  return std::nullopt;
}

bool is(const caf::error& err, journal_errc x) noexcept {
  return err && err.category() == journal_category
         && err.code() == static_cast<uint8_t>(x);
}

std::string describe(const caf::error& err) {
  if (!err)
    return "ok";
  if (err.category() != journal_category)
    return caf::to_string(err);
  std::string out = "journal.";
  out += to_string(static_cast<journal_errc>(err.code()));
  const auto& ctx = err.context();
  if (!ctx.empty() && ctx.match_element<std::string>(0)) {
    out += ": ";
    out += ctx.get_as<std::string>(0);
  }
  return out;
}

} // namespace annals
