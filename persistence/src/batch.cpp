// annals -- event-sourced aggregates on the C++ Actor Framework.
#include "annals/persistence/batch.hpp"

namespace annals {

bool expected_revision::admits(revision actual) const noexcept {
  switch (kind_) {
  case kind::any:
    return true;
  case kind::no_stream:
    return actual == 0;
  case kind::stream_exists:
    return actual > 0;
  case kind::exactly:
    return actual == value_;
  }
  return false;
}

std::string to_string(const expected_revision& x) {
  switch (x.what()) {
  case expected_revision::kind::any:
    return "any";
  case expected_revision::kind::no_stream:
    return "no_stream";
  case expected_revision::kind::stream_exists:
    return "stream_exists";
  case expected_revision::kind::exactly:
    return std::to_string(x.value());
  }
  return "?";
}

} // namespace annals
