// annals -- test support: a throw-away certificate authority and per-node
// certificates, made with the openssl CLI at run time (keys are never
// committed).
#pragma once

#include <sys/stat.h>

#include <cstdlib>
#include <stdexcept>
#include <string>

namespace annals::testing {

/// The files of one TLS identity: certificate, private key and the CA that
/// the holder trusts (all PEM).
struct tls_identity {
  std::string certificate;
  std::string key;
  std::string cafile;
};

/// A certificate authority in `dir` (which must exist): `ca.pem`/`ca.key`
/// made on construction, and end-entity certificates made on demand. EC
/// P-256 keys, valid for two days. Not thread-safe.
class test_ca {
public:
  test_ca(std::string dir, std::string name)
    : dir_(std::move(dir)), name_(std::move(name)) {
    run("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1"
        " -nodes -days 2 -subj /CN="
        + name_ + " -keyout " + file("ca.key") + " -out " + file("ca.pem"));
  }

  /// The CA's certificate (what a peer puts into `openssl.cafile`).
  std::string cafile() const {
    return file("ca.pem");
  }

  /// Makes a key and a certificate with CN `cn`, signed by this CA. The
  /// identity trusts `trusted_ca` (default: this CA).
  tls_identity issue(const std::string& cn, std::string trusted_ca = {}) {
    auto key = file(cn + ".key");
    auto csr = file(cn + ".csr");
    auto cert = file(cn + ".pem");
    run("openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
        " -subj /CN="
        + cn + " -keyout " + key + " -out " + csr);
    run("openssl x509 -req -days 2 -set_serial " + std::to_string(++serial_)
        + " -in " + csr + " -CA " + file("ca.pem") + " -CAkey " + file("ca.key")
        + " -out " + cert);
    ::chmod(key.c_str(), 0600);
    return {cert, key, trusted_ca.empty() ? cafile() : std::move(trusted_ca)};
  }

private:
  std::string file(const std::string& base) const {
    return dir_ + "/" + name_ + "-" + base;
  }

  static void run(const std::string& cmd) {
    auto full = cmd + " >/dev/null 2>&1";
    if (std::system(full.c_str()) != 0)
      throw std::runtime_error("failed: " + cmd);
  }

  std::string dir_;
  std::string name_;
  int serial_ = 1000;
};

} // namespace annals::testing
