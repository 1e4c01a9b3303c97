// annals -- event-sourced aggregates on the C++ Actor Framework.
// Part of the persistence module: streams, partitions, positions.
#pragma once

#include <compare>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace annals {

/// A stream's revision: its events are numbered 1, 2, 3, ... without gaps.
/// Revision 0 means "no event yet" (the stream does not exist).
using revision = uint64_t;

/// A position in one partition's log: 1, 2, 3, ... without gaps.
/// Position 0 means "before the first event".
using position = uint64_t;

/// The index of a partition, in [0, partition_count).
using partition_id = uint32_t;

/// Size limits of stream ids and command ids (bytes).
constexpr std::size_t max_category_bytes = 128;
constexpr std::size_t max_stream_id_bytes = 256;
constexpr std::size_t max_command_id_bytes = 100;

/// Identifies a stream: the events of one aggregate instance.
///
/// `category` is the aggregate type's stable name (e.g. "bank.account"),
/// `id` the instance id within it (e.g. "alice"). Both are byte strings;
/// `category` holds 1..`max_category_bytes`, `id` 0..`max_stream_id_bytes`
/// (LMDB keys are limited to 511 bytes).
struct stream_id {
  std::string category;
  std::string id;

  friend auto operator<=>(const stream_id&, const stream_id&) = default;
};

/// Renders "category/id".
std::string to_string(const stream_id& x);

/// The stable 64-bit hash of a stream: FNV-1a (64-bit, offset basis
/// 0xcbf29ce484222325, prime 0x100000001b3) over the bytes of `category`,
/// one 0x00 byte, then the bytes of `id`. Independent of platform, compiler
/// and standard library; it is part of the on-disk format and never changes.
uint64_t stream_hash(const stream_id& x) noexcept;

/// The partition of a stream: `stream_hash(x) % partition_count`.
/// @pre `partition_count > 0`.
partition_id partition_of(const stream_id& x,
                          uint32_t partition_count) noexcept;

/// The stream's events and its revisions live in exactly one partition, so
/// a partition log totally orders the events of each of its streams.

} // namespace annals
