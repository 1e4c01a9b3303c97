// annals -- event-sourced aggregates on the C++ Actor Framework.
#include "lmdb_errors.hpp"

#include "annals/persistence/errc.hpp"

#include <lmdb.h>

#include <cerrno>
#include <string>

namespace annals::detail {

caf::error lmdb_error(int rc, std::string_view what) {
  std::string desc{what};
  desc += ": ";
  desc += mdb_strerror(rc);
  switch (rc) {
  case MDB_MAP_FULL:
    return make_error(journal_errc::journal_full, std::move(desc));
  case MDB_CORRUPTED:
  case MDB_PAGE_NOTFOUND:
  case MDB_INVALID:
  case MDB_BAD_TXN:
  case MDB_BAD_VALSIZE:
    return make_error(journal_errc::corrupt_storage, std::move(desc));
  case MDB_VERSION_MISMATCH:
    return make_error(journal_errc::unsupported_format, std::move(desc));
  case EIO:
  case ENOSPC:
  case EROFS:
  case EDQUOT:
  case EFBIG:
    return make_error(journal_errc::io_error, std::move(desc));
  case EAGAIN:
    return make_error(journal_errc::locked, std::move(desc));
  default:
    return make_error(journal_errc::storage_error, std::move(desc));
  }
}

bool lmdb_fatal(int rc) noexcept {
  switch (rc) {
  case MDB_MAP_FULL:
  case MDB_TXN_FULL:
  case MDB_KEYEXIST:
    return false;
  default:
    return true;
  }
}

} // namespace annals::detail
