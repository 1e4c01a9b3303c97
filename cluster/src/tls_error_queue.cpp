// annals -- event-sourced aggregates on the C++ Actor Framework.
// Part of the cluster module (internal): a workaround for CAF 0.17.6's
// openssl module, which never clears OpenSSL's per-thread error queue.
//
// # Why
// `caf::openssl::session` calls `SSL_accept/connect/read/write` and then
// `SSL_get_error`. OpenSSL answers `SSL_get_error` from the calling
// thread's error queue first: while it holds an entry, every would-block
// result (`SSL_ERROR_WANT_READ`) reads as `SSL_ERROR_SSL`. CAF drains the
// queue only inside log statements, which the Debian build compiles out.
// So one failed handshake -- garbage bytes, a plain BASP client, a peer
// with a foreign certificate -- leaves an entry on CAF's I/O thread, and
// the next would-block read of every *established* TLS connection on that
// thread fails: the node drops all its peers and clients at once
// (measured: both members logged `remote_link_unreachable` within
// milliseconds of one 4 KiB junk write). OpenSSL documents that the queue
// must be empty before each I/O call; newer CAF (libcaf_net) calls
// `ERR_clear_error()` before each one.
//
// # How
// The four functions CAF's session calls are interposed: this definition,
// linked into the executable, takes precedence over libssl's for every
// caller in the process (ELF symbol interposition); it clears the queue
// and calls libssl's function. For code that follows OpenSSL's rule this
// changes nothing. `tls_error_queue_anchor` makes the linker keep this
// file (nothing else references it from the static library).
//
// # Limitations
// Works where annals_cluster is linked into the executable or into a
// shared library loaded before libssl (ELF, glibc). Remove it together with
// the move off CAF 0.17's openssl module.
#include "tls_error_queue.hpp"

#include <dlfcn.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

namespace {

template <class F>
F next_symbol(const char* name) {
  return reinterpret_cast<F>(::dlsym(RTLD_NEXT, name));
}

} // namespace

extern "C" {

int SSL_accept(SSL* ssl) {
  static auto real = next_symbol<int (*)(SSL*)>("SSL_accept");
  ERR_clear_error();
  return real(ssl);
}

int SSL_connect(SSL* ssl) {
  static auto real = next_symbol<int (*)(SSL*)>("SSL_connect");
  ERR_clear_error();
  return real(ssl);
}

int SSL_read(SSL* ssl, void* buf, int num) {
  static auto real = next_symbol<int (*)(SSL*, void*, int)>("SSL_read");
  ERR_clear_error();
  return real(ssl, buf, num);
}

int SSL_write(SSL* ssl, const void* buf, int num) {
  static auto real = next_symbol<int (*)(SSL*, const void*, int)>("SSL_write");
  ERR_clear_error();
  return real(ssl, buf, num);
}

} // extern "C"

namespace annals::cluster::detail {

bool tls_error_queue_anchor() noexcept {
  return true;
}

} // namespace annals::cluster::detail
