// annals -- event-sourced aggregates on the C++ Actor Framework.
#include "codec.hpp"

#include "annals/persistence/errc.hpp"

#include "crc32c.hpp"

#include <chrono>
#include <cstring>
#include <random>

namespace annals::detail {

namespace {

/// The kind byte of an event record: 1 for the last event of its append
/// (every record before appends were marked), 2 for one continued by the
/// next position's event of the same append.
constexpr uint8_t record_kind = 1;
constexpr uint8_t record_kind_continued = 2;
constexpr uint8_t snapshot_kind = 2;

} // namespace

// -- byte_writer --------------------------------------------------------------

// Each integer is assembled in a local buffer and appended at once (one
// capacity check instead of one per byte).

void byte_writer::u16be(uint16_t x) {
  char b[2] = {static_cast<char>(x >> 8), static_cast<char>(x)};
  out_.append(b, 2);
}

void byte_writer::u32be(uint32_t x) {
  char b[4];
  for (int i = 0; i < 4; ++i)
    b[i] = static_cast<char>(x >> (24 - 8 * i));
  out_.append(b, 4);
}

void byte_writer::u64be(uint64_t x) {
  char b[8];
  for (int i = 0; i < 8; ++i)
    b[i] = static_cast<char>(x >> (56 - 8 * i));
  out_.append(b, 8);
}

void byte_writer::u32le(uint32_t x) {
  char b[4];
  for (int i = 0; i < 4; ++i)
    b[i] = static_cast<char>(x >> (8 * i));
  out_.append(b, 4);
}

void byte_writer::u64le(uint64_t x) {
  char b[8];
  for (int i = 0; i < 8; ++i)
    b[i] = static_cast<char>(x >> (8 * i));
  out_.append(b, 8);
}

void byte_writer::str16(std::string_view s) {
  auto n = static_cast<uint16_t>(s.size());
  u8(static_cast<uint8_t>(n));
  u8(static_cast<uint8_t>(n >> 8));
  raw(s.data(), s.size());
}

// -- byte_reader --------------------------------------------------------------

std::string byte_reader::str16() {
  if (!take(2))
    return {};
  std::size_t len = p_[off_] | (p_[off_ + 1] << 8);
  off_ += 2;
  if (!take(len))
    return {};
  std::string s{reinterpret_cast<const char*>(p_ + off_), len};
  off_ += len;
  return s;
}

std::vector<std::byte> byte_reader::blob32() {
  auto len = u32le();
  if (!take(len))
    return {};
  std::vector<std::byte> out(len);
  if (len > 0)
    std::memcpy(out.data(), p_ + off_, len);
  off_ += len;
  return out;
}

// -- keys -------------------------------------------------------------------

void stream_key_into(const stream_id& s, std::string& out) {
  out.clear();
  out.reserve(4 + s.category.size() + s.id.size() + 8);
  byte_writer w{out};
  w.u16be(static_cast<uint16_t>(s.category.size()));
  w.raw(s.category.data(), s.category.size());
  w.u16be(static_cast<uint16_t>(s.id.size()));
  w.raw(s.id.data(), s.id.size());
}

std::string stream_key(const stream_id& s) {
  std::string out;
  stream_key_into(s, out);
  return out;
}

std::string log_key(partition_id p, position pos) {
  std::string out;
  out.reserve(12);
  byte_writer w{out};
  w.u32be(p);
  w.u64be(pos);
  return out;
}

bool parse_log_key(std::string_view key, partition_id& p, position& pos) {
  if (key.size() != 12)
    return false;
  byte_reader r{key.data(), key.size()};
  p = r.u32be();
  pos = r.u64be();
  return r.ok();
}

std::string stream_rev_key(const std::string& skey, revision r) {
  std::string out;
  out.reserve(skey.size() + 8);
  out = skey;
  byte_writer w{out};
  w.u64be(r);
  return out;
}

std::string checkpoint_key(std::string_view consumer, partition_id p) {
  std::string out;
  byte_writer w{out};
  w.u16be(static_cast<uint16_t>(consumer.size()));
  w.raw(consumer.data(), consumer.size());
  w.u32be(p);
  return out;
}

std::string model_key(std::string_view model, std::string_view key) {
  std::string out;
  byte_writer w{out};
  w.u16be(static_cast<uint16_t>(model.size()));
  w.raw(model.data(), model.size());
  w.raw(key.data(), key.size());
  return out;
}

// -- values -------------------------------------------------------------------

std::string seq_key(uint64_t seq) {
  std::string out;
  byte_writer{out}.u64be(seq);
  return out;
}

namespace {

void put_varint(std::string& out, uint64_t x) {
  while (x >= 0x80) {
    out.push_back(static_cast<char>((x & 0x7f) | 0x80));
    x >>= 7;
  }
  out.push_back(static_cast<char>(x));
}

bool get_varint(const unsigned char*& p, const unsigned char* end,
                uint64_t& x) {
  x = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (p == end)
      return false;
    auto b = *p++;
    x |= static_cast<uint64_t>(b & 0x7f) << shift;
    if ((b & 0x80) == 0)
      return true;
  }
  return false;
}

} // namespace

void encode_index_entry(uint64_t first, const uint64_t* seqs, std::size_t n,
                        std::string& out) {
  out.clear();
  byte_writer w{out};
  w.u64le(first);
  w.u32le(static_cast<uint32_t>(n));
  uint64_t prev_end = 0;
  for (std::size_t i = 0; i < n;) {
    auto j = i + 1;
    while (j < n && seqs[j] == seqs[j - 1] + 1)
      ++j;
    put_varint(out, seqs[i] - prev_end);
    put_varint(out, j - i - 1);
    prev_end = seqs[j - 1];
    i = j;
  }
}

bool decode_index_entry(std::string_view v, uint64_t& first,
                        std::vector<uint64_t>& seqs) {
  seqs.clear();
  byte_reader r{v.data(), v.size()};
  first = r.u64le();
  auto n = r.u32le();
  if (!r.ok() || n == 0 || n > max_index_entry)
    return false;
  auto* p = reinterpret_cast<const unsigned char*>(v.data()) + 12;
  auto* end = reinterpret_cast<const unsigned char*>(v.data()) + v.size();
  uint64_t prev_end = 0;
  while (seqs.size() < n) {
    uint64_t gap = 0, len = 0;
    if (!get_varint(p, end, gap) || !get_varint(p, end, len) || gap == 0
        || len >= n - seqs.size())
      return false;
    auto start = prev_end + gap;
    for (uint64_t k = 0; k <= len; ++k)
      seqs.push_back(start + k);
    prev_end = start + len;
  }
  return p == end;
}

std::string lineage_key(partition_id p, uint64_t epoch) {
  std::string out;
  byte_writer w{out};
  w.u32be(p);
  w.u64be(epoch);
  return out;
}

// -- records ------------------------------------------------------------------

namespace {

/// Little-endian stores into a buffer whose size the caller computed.
struct raw_writer {
  char* at;
  void u8(uint8_t x) noexcept {
    *at++ = static_cast<char>(x);
  }
  void u32le(uint32_t x) noexcept {
    for (int i = 0; i < 4; ++i)
      *at++ = static_cast<char>(x >> (8 * i));
  }
  void u64le(uint64_t x) noexcept {
    for (int i = 0; i < 8; ++i)
      *at++ = static_cast<char>(x >> (8 * i));
  }
  void bytes(const void* data, std::size_t n) noexcept {
    if (n > 0)
      std::memcpy(at, data, n);
    at += n;
  }
  void str16(std::string_view s) noexcept {
    auto n = static_cast<uint16_t>(s.size());
    u8(static_cast<uint8_t>(n));
    u8(static_cast<uint8_t>(n >> 8));
    bytes(s.data(), s.size());
  }
};

/// crc + kind + rev + partition + pos + timestamp + epoch + schema version,
/// six u16 lengths and the u32 payload length.
constexpr std::size_t record_fixed_bytes
  = 4 + 1 + 8 + 4 + 8 + 8 + 8 + 4 + 6 * 2 + 4;

} // namespace

std::size_t record_size(const record_view& ev) noexcept {
  return record_fixed_bytes + ev.stream.category.size() + ev.stream.id.size()
         + ev.type.size() + ev.command_id.size() + ev.correlation_id.size()
         + ev.causation_id.size() + ev.payload.size();
}

void encode_record_to(const record_view& ev, char* out) noexcept {
  raw_writer w{out + 4}; // checksum first, patched below
  w.u8(ev.ends_append ? record_kind : record_kind_continued);
  w.u64le(ev.rev);
  w.u32le(ev.partition);
  w.u64le(ev.pos);
  w.u64le(static_cast<uint64_t>(ev.timestamp_ns));
  w.u64le(ev.epoch);
  w.u32le(ev.schema_version);
  w.str16(ev.stream.category);
  w.str16(ev.stream.id);
  w.str16(ev.type);
  w.str16(ev.command_id);
  w.str16(ev.correlation_id);
  w.str16(ev.causation_id);
  w.u32le(static_cast<uint32_t>(ev.payload.size()));
  w.bytes(ev.payload.data(), ev.payload.size());
  auto n = static_cast<std::size_t>(w.at - out);
  auto crc = crc32c(out + 4, n - 4);
  raw_writer{out}.u32le(crc);
}

void encode_record(const record_view& ev, std::string& out) {
  out.resize(record_size(ev));
  encode_record_to(ev, out.data());
}

void encode_record(const recorded_event& ev, std::string& out) {
  encode_record(record_view{ev.stream, ev.rev, ev.partition, ev.pos,
                            ev.timestamp_ns, ev.meta.epoch, ev.schema_version,
                            ev.type, ev.meta.command_id, ev.meta.correlation_id,
                            ev.meta.causation_id, ev.payload, ev.ends_append},
                out);
}

namespace {

bool checksum_ok(const void* data, std::size_t n) noexcept {
  if (n < 5)
    return false;
  byte_reader r{data, 4};
  auto stored = r.u32le();
  auto p = static_cast<const unsigned char*>(data);
  return crc32c(p + 4, n - 4) == stored;
}

} // namespace

record_fault decode_record_view(const void* data, std::size_t n,
                                event_view& ev) noexcept {
  if (!checksum_ok(data, n))
    return record_fault::checksum;
  return decode_record_fields(data, n, ev);
}

record_fault decode_record_fields(const void* data, std::size_t n,
                                  event_view& ev) noexcept {
  byte_reader r{data, n};
  r.u32le();
  auto kind = r.u8();
  if (kind != record_kind && kind != record_kind_continued)
    return record_fault::kind;
  ev.ends_append = kind == record_kind;
  ev.rev = r.u64le();
  ev.partition = r.u32le();
  ev.pos = r.u64le();
  ev.timestamp_ns = static_cast<int64_t>(r.u64le());
  ev.epoch = r.u64le();
  ev.schema_version = r.u32le();
  ev.category = r.view16();
  ev.id = r.view16();
  ev.type = r.view16();
  ev.command_id = r.view16();
  ev.correlation_id = r.view16();
  ev.causation_id = r.view16();
  ev.payload = r.view32(ev.payload_size);
  if (!r.ok() || r.remaining() != 0)
    return record_fault::structure;
  return record_fault::none;
}

caf::error record_error(record_fault fault, std::size_t n,
                        const std::string& where) {
  switch (fault) {
  case record_fault::none:
    return {};
  case record_fault::checksum:
    return make_error(journal_errc::corrupt_record,
                      where + ": checksum mismatch (" + std::to_string(n)
                        + " bytes)");
  case record_fault::kind:
    return make_error(journal_errc::corrupt_record,
                      where + ": not an event record");
  case record_fault::structure:
    break;
  }
  return make_error(journal_errc::corrupt_record,
                    where + ": malformed record structure");
}

caf::expected<recorded_event> decode_record(const void* data, std::size_t n,
                                            const std::string& where) {
  event_view view;
  if (auto fault = decode_record_view(data, n, view);
      fault != record_fault::none)
    return record_error(fault, n, where);
  return view.to_event();
}

void encode_snapshot(const snapshot& s, std::string& out) {
  out.clear();
  byte_writer w{out};
  w.u32le(0);
  w.u8(snapshot_kind);
  w.u64le(s.rev);
  w.u32le(s.schema_version);
  w.str16(s.stream.category);
  w.str16(s.stream.id);
  w.str16(s.type);
  w.u32le(static_cast<uint32_t>(s.payload.size()));
  w.raw(s.payload.data(), s.payload.size());
  auto crc = crc32c(out.data() + 4, out.size() - 4);
  for (int i = 0; i < 4; ++i)
    out[static_cast<std::size_t>(i)] = static_cast<char>(crc >> (8 * i));
}

caf::expected<snapshot> decode_snapshot(const void* data, std::size_t n,
                                        const std::string& where) {
  if (!checksum_ok(data, n))
    return make_error(journal_errc::corrupt_snapshot,
                      where + ": checksum mismatch");
  byte_reader r{data, n};
  r.u32le();
  if (r.u8() != snapshot_kind)
    return make_error(journal_errc::corrupt_snapshot,
                      where + ": not a snapshot record");
  snapshot s;
  s.rev = r.u64le();
  s.schema_version = r.u32le();
  s.stream.category = r.str16();
  s.stream.id = r.str16();
  s.type = r.str16();
  s.payload = r.blob32();
  if (!r.ok() || r.remaining() != 0)
    return make_error(journal_errc::corrupt_snapshot,
                      where + ": malformed snapshot structure");
  return s;
}

std::string new_incarnation() {
  std::random_device rd;
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  for (int i = 0; i < 16; ++i) {
    auto b = rd() & 0xffu;
    out.push_back(hex[b >> 4]);
    out.push_back(hex[b & 0xfu]);
  }
  return out;
}

int64_t now_ns() noexcept {
  using namespace std::chrono;
  return duration_cast<nanoseconds>(system_clock::now().time_since_epoch())
    .count();
}

} // namespace annals::detail
