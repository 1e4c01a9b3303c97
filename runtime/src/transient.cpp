// annals -- which failures a retry may cure (subscription.hpp).
#include "annals/errc.hpp"
#include "annals/persistence/errc.hpp"
#include "annals/subscription.hpp"

#include <caf/sec.hpp>

namespace annals {

namespace {

bool transient_annals(errc x) noexcept {
  switch (x) {
  case errc::unavailable:
  case errc::outcome_unknown:
  case errc::not_persisted:
  case errc::wrong_expected_revision:
    return true;
  default:
    return false;
  }
}

bool transient_journal(journal_errc x) noexcept {
  switch (x) {
  case journal_errc::wrong_expected_revision:
  case journal_errc::journal_full:
  case journal_errc::io_error:
  case journal_errc::locked:
  case journal_errc::storage_error:
  case journal_errc::failed:
  case journal_errc::stale_epoch:
  case journal_errc::wrong_expected_position:
    return true;
  default:
    return false;
  }
}

/// CAF's own errors are about delivery (timeouts, lost peers), so they are
/// transient, except those that say a message itself is wrong.
bool transient_system(caf::sec x) noexcept {
  switch (x) {
  case caf::sec::unexpected_message:
  case caf::sec::unexpected_response:
  case caf::sec::invalid_argument:
  case caf::sec::unknown_type:
  case caf::sec::state_not_serializable:
  case caf::sec::malformed_basp_message:
  case caf::sec::serializing_basp_payload_failed:
  case caf::sec::incompatible_versions:
  case caf::sec::incompatible_application_ids:
    return false;
  default:
    return true;
  }
}

} // namespace

bool is_transient(const caf::error& err) noexcept {
  if (!err)
    return false;
  auto code = err.code();
  if (err.category() == errc_category)
    return transient_annals(static_cast<errc>(code));
  if (err.category() == journal_category)
    return transient_journal(static_cast<journal_errc>(code));
  if (err.category() == caf::atom("system"))
    return transient_system(static_cast<caf::sec>(code));
  return false; // the user's own categories: rejections, deterministic
}

} // namespace annals
