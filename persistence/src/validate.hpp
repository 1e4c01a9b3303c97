// annals -- event-sourced aggregates on the C++ Actor Framework.
// Argument checks shared by all journal backends.
#pragma once

#include "annals/persistence/batch.hpp"
#include "annals/persistence/journal_options.hpp"

#include <caf/error.hpp>

namespace annals::detail {

/// @returns `invalid_argument` or `too_large` naming the offending field, or
///          no error.
caf::error validate(const append_request& req, const journal_options& opts);
caf::error validate(const snapshot& snap, const journal_options& opts);
caf::error validate(const checkpoint_write& cp, uint32_t partitions);
caf::error validate(const model_write& mw);

/// The whole-batch checks: a malformed snapshot, checkpoint or model write
/// rejects the batch before anything is written (append parts are checked
/// one by one and fail alone).
caf::error validate_whole(const write_batch& batch, const journal_options& opts,
                          uint32_t partitions);

} // namespace annals::detail
