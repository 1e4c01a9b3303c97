// annals -- moved to tests/support/etcd_harness.hpp; this path keeps the
// includes of targets that only have tests/cluster on their include path.
#pragma once

#include "../support/etcd_harness.hpp"
