// annals -- test support: a directory the test creates and always removes.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>

namespace annals::testing {

/// A fresh directory under $TMPDIR (or /tmp), removed with its contents when
/// the object dies. Not thread-safe.
class temp_dir {
public:
  temp_dir() {
    auto base = std::filesystem::temp_directory_path() / "annals-test-XXXXXX";
    std::string tmpl = base.string();
    if (::mkdtemp(tmpl.data()) == nullptr)
      throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const noexcept {
    return path_;
  }
  std::string sub(const std::string& name) const {
    return path_ + "/" + name;
  }

private:
  std::string path_;
};

} // namespace annals::testing
