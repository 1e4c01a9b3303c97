// bank -- what the HTTP server knows of credentials.
#include "http_security.hpp"

#include "annals/log.hpp"

#include <caf/sec.hpp>

#include <sys/stat.h>

#include <cctype>
#include <fstream>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sstream>

namespace bank {

namespace ssl = boost::asio::ssl;

namespace {

caf::error bad(const std::string& what) {
  return caf::make_error(caf::sec::invalid_argument, what);
}

/// The token in `path`: its content without trailing white space.
caf::expected<std::string> read_token(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  if (!in)
    return bad("cannot read the operator token file " + path);
  std::ostringstream content;
  content << in.rdbuf();
  auto token = content.str();
  while (!token.empty()
         && std::isspace(static_cast<unsigned char>(token.back())))
    token.pop_back();
  if (token.size() < http_security::min_token_bytes)
    return bad("the operator token in " + path + " is shorter than "
               + std::to_string(http_security::min_token_bytes) + " bytes");
  for (auto c : token)
    if (c < '!' || c > '~')
      return bad("the operator token in " + path
                 + " has a character outside '!'..'~'");
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && (st.st_mode & (S_IRWXG | S_IRWXO)))
    annals::log(annals::log_level::warning,
                "the operator token file " + path
                  + " is accessible to other users (chmod 600 it)");
  return token;
}

caf::expected<std::unique_ptr<ssl::context>>
make_tls_context(const http_tls_options& opts) {
  auto ctx = std::make_unique<ssl::context>(ssl::context::tls_server);
  boost::system::error_code ec;
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2
                     | ssl::context::no_sslv3 | ssl::context::no_tlsv1
                     | ssl::context::no_tlsv1_1 | ssl::context::single_dh_use,
                   ec);
  if (ctx->use_certificate_chain_file(opts.certificate_file, ec); ec)
    return bad("cannot use the TLS certificate " + opts.certificate_file + ": "
               + ec.message());
  if (ctx->use_private_key_file(opts.key_file, ssl::context::pem, ec); ec)
    return bad("cannot use the TLS key " + opts.key_file + ": " + ec.message());
  if (SSL_CTX_check_private_key(ctx->native_handle()) != 1)
    return bad("the TLS key " + opts.key_file + " does not match "
               + opts.certificate_file);
  if (!opts.client_ca_file.empty()) {
    if (ctx->load_verify_file(opts.client_ca_file, ec); ec)
      return bad("cannot use the client CA " + opts.client_ca_file + ": "
                 + ec.message());
    // Tells clients which CA to pick a certificate for.
    auto* names = SSL_load_client_CA_file(opts.client_ca_file.c_str());
    if (names == nullptr)
      return bad("no CA certificate in " + opts.client_ca_file);
    SSL_CTX_set_client_CA_list(ctx->native_handle(), names);
    auto mode = ssl::verify_peer | ssl::verify_client_once;
    if (opts.client_certs == client_cert_mode::required)
      mode |= ssl::verify_fail_if_no_peer_cert;
    ctx->set_verify_mode(mode, ec);
    // Session resumption with client verification needs an id context.
    static constexpr unsigned char sid[] = "bank-http";
    SSL_CTX_set_session_id_context(ctx->native_handle(), sid, sizeof(sid) - 1);
  }
  return ctx;
}

} // namespace

caf::expected<std::shared_ptr<http_security>>
http_security::load(const http_options& opts) {
  auto out = std::make_shared<http_security>();
  if (!opts.operator_token_file.empty()) {
    auto token = read_token(opts.operator_token_file);
    if (!token)
      return std::move(token.error());
    out->token_digest_ = sha256(*token);
  }
  const auto& tls = opts.tls;
  if (tls.certificate_file.empty() != tls.key_file.empty())
    return bad("HTTPS needs both a certificate and a key file");
  if (!tls.client_ca_file.empty() && tls.certificate_file.empty())
    return bad("a client CA needs HTTPS (a certificate and a key file)");
  if (!tls.certificate_file.empty()) {
    auto ctx = make_tls_context(tls);
    if (!ctx)
      return std::move(ctx.error());
    out->tls_ = std::move(*ctx);
    out->client_ca_ = !tls.client_ca_file.empty();
  }
  return out;
}

operator_credential
http_security::credential(bool peer_verified,
                          std::optional<std::string_view> authorization) const {
  if (!operator_configured())
    return operator_credential::unconfigured;
  if (peer_verified && client_ca_)
    return operator_credential::valid;
  // RFC 6750: "Bearer" (any case), one space, the token.
  constexpr std::string_view scheme = "bearer ";
  if (!authorization || authorization->size() <= scheme.size())
    return operator_credential::absent;
  for (std::size_t i = 0; i < scheme.size(); ++i)
    if (std::tolower(static_cast<unsigned char>((*authorization)[i]))
        != scheme[i])
      return operator_credential::absent;
  if (!token_digest_)
    return operator_credential::wrong;
  // Digests of equal length, compared in constant time: neither the
  // length nor a prefix of the token leaks through the timing.
  auto presented = sha256(authorization->substr(scheme.size()));
  return CRYPTO_memcmp(presented.data(), token_digest_->data(),
                       presented.size())
             == 0
           ? operator_credential::valid
           : operator_credential::wrong;
}

http_security::digest http_security::sha256(std::string_view text) {
  digest out{};
  SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(),
         out.data());
  return out;
}

bool peer_certificate_verified(void* ssl) noexcept {
  auto* s = static_cast<SSL*>(ssl);
  X509* cert = SSL_get1_peer_certificate(s);
  if (cert == nullptr)
    return false;
  X509_free(cert);
  return SSL_get_verify_result(s) == X509_V_OK;
}

} // namespace bank
