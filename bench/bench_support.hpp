// annals -- helpers shared by the benchmarks: statistics and formatting.
#pragma once

#include <lmdb.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace annals::bench_support {

/// The machine's load averages (1, 5, 15 min), as /proc/loadavg says.
inline std::string load_average() {
  std::ifstream in{"/proc/loadavg"};
  std::string a, b, c;
  in >> a >> b >> c;
  return a + " " + b + " " + c;
}

/// Throws on an LMDB error (benchmarks stop on the first failure).
inline void check(int rc, const char* what) {
  if (rc != 0)
    throw std::runtime_error(std::string{what} + ": " + mdb_strerror(rc));
}

inline void put_u64be(char* out, uint64_t x) {
  for (int i = 7; i >= 0; --i) {
    out[i] = static_cast<char>(x & 0xff);
    x >>= 8;
  }
}

inline double median(std::vector<double> xs) {
  if (xs.empty())
    return 0;
  std::sort(xs.begin(), xs.end());
  auto n = xs.size();
  return n % 2 == 1 ? xs[n / 2] : (xs[n / 2 - 1] + xs[n / 2]) / 2;
}

inline /// Nearest-rank percentile of sorted `xs`.
  double
  percentile(const std::vector<double>& xs, double q) {
  if (xs.empty())
    return 0;
  auto n = static_cast<double>(xs.size());
  auto rank = static_cast<std::size_t>(std::ceil(q * n));
  return xs[std::clamp<std::size_t>(rank, 1, xs.size()) - 1];
}

inline std::string fmt_rate(double x) {
  char buf[32];
  if (x >= 1e6)
    std::snprintf(buf, sizeof buf, "%.2fM", x / 1e6);
  else if (x >= 1e5)
    std::snprintf(buf, sizeof buf, "%.0fk", x / 1e3);
  else if (x >= 1e3)
    std::snprintf(buf, sizeof buf, "%.1fk", x / 1e3);
  else
    std::snprintf(buf, sizeof buf, "%.0f", x);
  return buf;
}

inline std::string fmt_ms(double ms) {
  char buf[32];
  if (ms >= 100)
    std::snprintf(buf, sizeof buf, "%.0fms", ms);
  else if (ms >= 10)
    std::snprintf(buf, sizeof buf, "%.1fms", ms);
  else
    std::snprintf(buf, sizeof buf, "%.2fms", ms);
  return buf;
}

/// The name of the file system holding `dir` (for the benchmark header).
inline std::string filesystem_of(const std::string& dir) {
  struct statfs sf;
  if (::statfs(dir.c_str(), &sf) != 0)
    return "unknown";
  struct {
    unsigned long magic;
    const char* name;
  } known[]
    = {{0xEF53, "ext4"},      {0x58465342, "xfs"},       {0x9123683E, "btrfs"},
       {0x01021994, "tmpfs"}, {0x794C7630, "overlayfs"}, {0x2FC12FC1, "zfs"},
       {0xF2F52010, "f2fs"},  {0x6969, "nfs"},           {0x65735546, "fuse"}};
  for (const auto& k : known)
    if (static_cast<unsigned long>(sf.f_type) == k.magic)
      return k.name;
  char buf[32];
  std::snprintf(buf, sizeof buf, "fs 0x%lx",
                static_cast<unsigned long>(sf.f_type));
  return buf;
}

/// The device's flush latency right now: the median of 5 timed (4 KiB
/// overwrite + fdatasync) of a file in `dir`. LMDB's commit does two such
/// flushes (data pages, then the meta page), so with fsync on this bounds the
/// commit rate from above.
inline double probe_fsync_ms(const std::string& dir) {
  auto path = dir + "/fsync-probe";
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0)
    throw std::runtime_error("open " + path + ": " + std::strerror(errno));
  std::vector<char> buf(4096, 'x');
  std::vector<double> ms;
  bool ok = true;
  for (int i = 0; i < 6 && ok; ++i) { // the first one allocates: untimed
    buf[0] = static_cast<char>('a' + i);
    auto t0 = std::chrono::steady_clock::now();
    ok = ::pwrite(fd, buf.data(), buf.size(), 0)
           == static_cast<ssize_t>(buf.size())
         && ::fdatasync(fd) == 0;
    auto t1 = std::chrono::steady_clock::now();
    if (i > 0)
      ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
  }
  auto err = errno;
  ::close(fd);
  ::unlink(path.c_str());
  if (!ok)
    throw std::runtime_error("fsync probe in " + dir + ": "
                             + std::strerror(err));
  return median(ms);
}

/// A fresh directory under $TMPDIR (or /tmp), removed with its contents.
class temp_dir {
public:
  temp_dir() {
    auto tmpl = (std::filesystem::temp_directory_path() / "annals-bench-XXXXXX")
                  .string();
    if (::mkdtemp(tmpl.data()) == nullptr)
      throw std::runtime_error("mkdtemp " + tmpl + ": " + std::strerror(errno));
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

private:
  std::string path_;
};

} // namespace annals::bench_support
