// annals -- event-sourced aggregates on the C++ Actor Framework.
// Part of the replication core: replica messages as bytes between nodes.
#include "replication/wire.hpp"

#include "annals/persistence/errc.hpp"

#include "replication/byte_codec.hpp"

namespace annals::replication {

namespace {

constexpr uint8_t wire_version = 1;

void put(byte_writer& w, const lineage& lin) {
  w.num(static_cast<uint32_t>(lin.size()));
  for (const auto& x : lin) {
    w.num(x.epoch);
    w.num(static_cast<uint64_t>(x.first));
  }
}

void put(byte_writer& w, const std::vector<log_entry>& entries) {
  w.num(static_cast<uint32_t>(entries.size()));
  for (const auto& x : entries) {
    w.num(x.epoch);
    w.num(static_cast<uint8_t>(x.ends_append ? 1 : 0));
    w.str32(x.payload);
  }
}

/// A list count no larger than what the rest of the frame can hold (each
/// element takes at least `min_size` bytes).
bool plausible(const byte_reader& r, uint32_t count, std::size_t min_size) {
  return r.ok() && count <= r.remaining() / min_size;
}

bool get(byte_reader& r, lineage& lin) {
  auto n = r.num<uint32_t>();
  if (!plausible(r, n, 16)) {
    return false;
  }
  lin.resize(n);
  for (auto& x : lin) {
    x.epoch = r.num<uint64_t>();
    x.first = r.num<uint64_t>();
  }
  return r.ok();
}

bool get(byte_reader& r, std::vector<log_entry>& entries) {
  auto n = r.num<uint32_t>();
  if (!plausible(r, n, 13)) {
    return false;
  }
  entries.resize(n);
  for (auto& x : entries) {
    x.epoch = r.num<uint64_t>();
    auto ends = r.num<uint8_t>();
    if (ends > 1) {
      return false;
    }
    x.ends_append = ends == 1;
    x.payload = std::string{r.str32()};
  }
  return r.ok();
}

} // namespace

std::string encode_message(const message& msg) {
  std::string out;
  byte_writer w{out};
  w.num(wire_version);
  w.num(static_cast<uint8_t>(msg.index()));
  std::visit(
    [&w](const auto& x) {
      using type = std::decay_t<decltype(x)>;
      if constexpr (std::is_same_v<type, fence_request>) {
        w.num(x.epoch);
        w.num(x.leader);
      } else if constexpr (std::is_same_v<type, fence_reply>) {
        w.num(x.epoch);
        w.num(x.from);
        w.str16(x.incarnation);
        w.num(x.fence);
        put(w, x.log_lineage);
        w.num(static_cast<uint64_t>(x.end));
      } else if constexpr (std::is_same_v<type, pull_request>) {
        w.num(x.epoch);
        w.num(x.leader);
        w.num(static_cast<uint64_t>(x.from));
        w.num(static_cast<uint64_t>(x.to));
      } else if constexpr (std::is_same_v<type, pull_reply>) {
        w.num(x.epoch);
        w.num(x.from);
        w.str16(x.incarnation);
        w.num(x.fence);
        w.num(static_cast<uint64_t>(x.first));
        put(w, x.entries);
      } else if constexpr (std::is_same_v<type, replicate>) {
        w.num(x.epoch);
        w.num(x.leader);
        w.num(static_cast<uint64_t>(x.prev));
        w.num(x.prev_epoch);
        put(w, x.entries);
        w.num(static_cast<uint64_t>(x.hw));
      } else {
        w.num(x.epoch);
        w.num(x.from);
        w.str16(x.incarnation);
        w.num(static_cast<uint8_t>(x.outcome));
        w.num(x.fence);
        w.num(static_cast<uint64_t>(x.end));
        put(w, x.log_lineage);
      }
    },
    msg);
  return out;
}

caf::expected<message> decode_message(std::string_view bytes) {
  auto fail = [](std::string what) {
    return make_error(journal_errc::invalid_argument,
                      "replication frame: " + std::move(what));
  };
  byte_reader r{bytes};
  auto version = r.num<uint8_t>();
  auto kind = r.num<uint8_t>();
  if (!r.ok()) {
    return fail("too short");
  }
  if (version != wire_version) {
    return fail("unknown version " + std::to_string(version));
  }
  message msg;
  bool ok = true;
  switch (kind) {
  case 0: {
    fence_request x;
    x.epoch = r.num<uint64_t>();
    x.leader = r.num<replica_id>();
    msg = x;
    break;
  }
  case 1: {
    fence_reply x;
    x.epoch = r.num<uint64_t>();
    x.from = r.num<replica_id>();
    x.incarnation = r.str16();
    x.fence = r.num<uint64_t>();
    ok = get(r, x.log_lineage);
    x.end = r.num<uint64_t>();
    msg = std::move(x);
    break;
  }
  case 2: {
    pull_request x;
    x.epoch = r.num<uint64_t>();
    x.leader = r.num<replica_id>();
    x.from = r.num<uint64_t>();
    x.to = r.num<uint64_t>();
    msg = x;
    break;
  }
  case 3: {
    pull_reply x;
    x.epoch = r.num<uint64_t>();
    x.from = r.num<replica_id>();
    x.incarnation = r.str16();
    x.fence = r.num<uint64_t>();
    x.first = r.num<uint64_t>();
    ok = get(r, x.entries);
    msg = std::move(x);
    break;
  }
  case 4: {
    replicate x;
    x.epoch = r.num<uint64_t>();
    x.leader = r.num<replica_id>();
    x.prev = r.num<uint64_t>();
    x.prev_epoch = r.num<uint64_t>();
    ok = get(r, x.entries);
    x.hw = r.num<uint64_t>();
    msg = std::move(x);
    break;
  }
  case 5: {
    replicate_reply x;
    x.epoch = r.num<uint64_t>();
    x.from = r.num<replica_id>();
    x.incarnation = r.str16();
    auto outcome = r.num<uint8_t>();
    if (outcome > static_cast<uint8_t>(replicate_outcome::refused)) {
      return fail("unknown outcome " + std::to_string(outcome));
    }
    x.outcome = static_cast<replicate_outcome>(outcome);
    x.fence = r.num<uint64_t>();
    x.end = r.num<uint64_t>();
    ok = get(r, x.log_lineage);
    msg = std::move(x);
    break;
  }
  default:
    return fail("unknown message kind " + std::to_string(kind));
  }
  if (!ok || !r.ok()) {
    return fail("truncated or malformed");
  }
  if (!r.done()) {
    return fail("trailing bytes");
  }
  return msg;
}

namespace {

constexpr uint8_t frames_version = 1;

/// Version and count.
constexpr std::size_t frames_header = 5;

/// Partition and length.
constexpr std::size_t frame_header = 8;

} // namespace

void encode_frames(const std::vector<partition_frame>& frames,
                   std::vector<std::string>& out) {
  std::size_t i = 0;
  while (i < frames.size()) {
    std::size_t n = 0;
    std::size_t size = frames_header;
    while (i + n < frames.size()) {
      auto more = frame_header + frames[i + n].bytes.size();
      if (n > 0 && size + more > max_frames_batch)
        break;
      size += more;
      ++n;
    }
    std::string batch;
    batch.reserve(size);
    byte_writer w{batch};
    w.num(frames_version);
    w.num(static_cast<uint32_t>(n));
    for (std::size_t k = i; k < i + n; ++k) {
      w.num(static_cast<uint32_t>(frames[k].partition));
      w.str32(frames[k].bytes);
    }
    out.push_back(std::move(batch));
    i += n;
  }
}

caf::expected<std::vector<partition_frame>>
decode_frames(std::string_view bytes) {
  auto fail = [](std::string what) {
    return make_error(journal_errc::invalid_argument,
                      "replication frame batch: " + std::move(what));
  };
  byte_reader r{bytes};
  auto version = r.num<uint8_t>();
  auto count = r.num<uint32_t>();
  if (!r.ok())
    return fail("too short");
  if (version != frames_version)
    return fail("unknown version " + std::to_string(version));
  if (!plausible(r, count, frame_header))
    return fail("count " + std::to_string(count) + " past the end");
  std::vector<partition_frame> frames;
  frames.reserve(count);
  for (uint32_t i = 0; i < count; ++i) {
    partition_frame f;
    f.partition = r.num<uint32_t>();
    f.bytes = r.str32();
    if (!r.ok())
      return fail("frame " + std::to_string(i) + " past the end");
    frames.push_back(f);
  }
  if (!r.done())
    return fail(std::to_string(r.remaining()) + " trailing bytes");
  return frames;
}

} // namespace annals::replication
