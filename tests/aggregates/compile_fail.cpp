// annals -- compile-fail cases of the aggregate contract. Built with
// -fsyntax-only and -DCASE=N by ctest; each case must fail with the
// user-facing message named in tests/aggregates/CMakeLists.txt. CASE=0 must
// compile (proves the harness itself works).
#include "annals/aggregate.hpp"

#include <caf/meta/type_name.hpp>

#include <string_view>

struct cmd {};
struct evt {
  static constexpr std::string_view type_name = "t.evt";
};
#if CASE == 3
struct unnamed {}; // no type_name
#endif

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, cmd&) {
  return f(caf::meta::type_name("cmd"));
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, evt&) {
  return f(caf::meta::type_name("evt"));
}
#if CASE == 3
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, unnamed&) {
  return f(caf::meta::type_name("unnamed"));
}
#endif

struct agg {
  static constexpr std::string_view category = "t.agg";
  using commands = annals::type_list<cmd>;
#if CASE == 3
  using events = annals::type_list<evt, unnamed>;
  void apply(const unnamed&) noexcept {
  }
#else
  using events = annals::type_list<evt>;
#endif

#if CASE != 2
  annals::decision<agg> handle(const cmd&) const {
    return annals::emit(evt{});
  }
#endif

#if CASE == 1
  void apply(const evt&) { // not noexcept
  }
#else
  void apply(const evt&) noexcept {
  }
#endif
};

#include <caf/type_id.hpp>

CAF_BEGIN_TYPE_ID_BLOCK(cf, caf::first_custom_type_id + 100)
#if CASE != 4
CAF_ADD_TYPE_ID(cf, (cmd))
#endif
CAF_ADD_TYPE_ID(cf, (evt))
#if CASE == 3
CAF_ADD_TYPE_ID(cf, (unnamed))
#endif
CAF_END_TYPE_ID_BLOCK(cf)

static_assert(annals::check_aggregate<agg>());

int main() {
}
