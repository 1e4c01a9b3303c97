// annals -- moved to tests/support/test_certs.hpp; this path keeps the
// includes of targets that only have tests/cluster on their include path.
#pragma once

#include "../support/test_certs.hpp"
