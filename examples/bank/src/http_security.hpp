// bank -- what the HTTP server knows of credentials: the operator token and
// the TLS context (private to http_server).
#pragma once

#include "bank/http_routes.hpp"
#include "bank/http_server.hpp"

#include <boost/asio/ssl/context.hpp>
#include <caf/expected.hpp>

#include <array>
#include <memory>
#include <optional>
#include <string_view>

namespace bank {

/// The operator token (kept as its SHA-256 digest) and the TLS context of
/// one server, loaded once from the files named in `http_options`.
///
/// Immutable after `load`; thread-safe. Connections share it, so it may
/// outlive the server.
class http_security {
public:
  /// Reads the token file and builds the TLS context. Errors:
  /// `caf::sec::invalid_argument`, naming the file and what is wrong with it
  /// (never the token itself): unreadable, a token shorter than
  /// `min_token_bytes` or with characters outside `!`..`~`, a certificate,
  /// key or CA that OpenSSL refuses, a key that does not match the
  /// certificate, a client CA without a certificate.
  static caf::expected<std::shared_ptr<http_security>>
  load(const http_options& opts);

  /// Shortest operator token accepted, in bytes.
  static constexpr std::size_t min_token_bytes = 16;

  /// True if operator routes can be authorized at all (a token or a client
  /// CA is configured).
  bool operator_configured() const noexcept {
    return token_digest_.has_value() || client_ca_;
  }

  /// The operator credential of a request: `peer_verified` says whether the
  /// TLS peer presented a certificate the client CA verified;
  /// `authorization` is the request's `Authorization` header, if any. The
  /// token comparison takes the same time whatever the token.
  operator_credential
  credential(bool peer_verified,
             std::optional<std::string_view> authorization) const;

  /// The TLS context, or null when the server speaks plain HTTP.
  boost::asio::ssl::context* tls() const noexcept {
    return tls_.get();
  }

private:
  using digest = std::array<unsigned char, 32>;

  static digest sha256(std::string_view text);

  std::optional<digest> token_digest_;
  bool client_ca_ = false;
  std::unique_ptr<boost::asio::ssl::context> tls_;
};

/// True if the TLS session's peer presented a certificate that verified.
/// `ssl` is the connection's `SSL*` after a successful handshake.
bool peer_certificate_verified(void* ssl) noexcept;

} // namespace bank
