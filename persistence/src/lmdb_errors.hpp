// annals -- event-sourced aggregates on the C++ Actor Framework.
// The one place where LMDB return codes become annals errors.
#pragma once

#include <caf/error.hpp>

#include <string_view>

namespace annals::detail {

/// Translates an LMDB (or errno) return code `rc` of operation `what`:
/// MDB_MAP_FULL -> journal_full; MDB_CORRUPTED, MDB_PAGE_NOTFOUND,
/// MDB_INVALID, MDB_BAD_TXN -> corrupt_storage; MDB_VERSION_MISMATCH ->
/// unsupported_format; EIO, ENOSPC, EROFS, EDQUOT -> io_error; EAGAIN /
/// EWOULDBLOCK (lock held) -> locked; everything else -> storage_error.
/// @pre rc != MDB_SUCCESS (0) and rc != MDB_NOTFOUND (handled by callers).
caf::error lmdb_error(int rc, std::string_view what);

/// True for codes after which the environment must not be written again
/// (fail-stop): everything except journal_full-type codes.
bool lmdb_fatal(int rc) noexcept;

} // namespace annals::detail
