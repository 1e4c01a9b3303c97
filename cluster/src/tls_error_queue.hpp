// annals -- event-sourced aggregates on the C++ Actor Framework.
// Part of the cluster module (internal): see tls_error_queue.cpp.
#pragma once

namespace annals::cluster::detail {

/// Keeps the OpenSSL error-queue workaround (tls_error_queue.cpp) linked
/// in; call it from code that is always linked when TLS is used.
bool tls_error_queue_anchor() noexcept;

} // namespace annals::cluster::detail
