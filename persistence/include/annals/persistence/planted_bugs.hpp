// annals -- event-sourced aggregates on the C++ Actor Framework.
// Part of the persistence module: bugs planted on purpose, to show that the
// history checker (tools/checker) detects them (Jepsen validates its
// checkers this way).
//
// Everything here exists only when ANNALS_PLANTED_BUGS is defined, which
// only the test target `checker_node_child_planted` does (it compiles its
// own copies of the affected translation units, see tests/checker). The
// normal libraries never contain any of it.
//
// At run time a planted build behaves normally unless the environment
// variable ANNALS_PLANT_BUG names one of the bugs:
//   reply_before_commit  the aggregate actor acknowledges a command before
//                        its events are committed (runtime, aggregate_actor)
//   no_dedupe            the journal forgets command ids: no lookup in
//                        find_command nor at commit (lmdb_journal.cpp)
//   no_fencing           the journal accepts appends of a stale owner epoch
//                        (lmdb_journal.cpp)
#pragma once

#ifdef ANNALS_PLANTED_BUGS

#include <cstdlib>
#include <cstring>

namespace annals::planted {

/// True if ANNALS_PLANT_BUG names `bug`.
inline bool bug(const char* name) noexcept {
  const char* v = std::getenv("ANNALS_PLANT_BUG");
  return v != nullptr && std::strcmp(v, name) == 0;
}

} // namespace annals::planted

#endif
