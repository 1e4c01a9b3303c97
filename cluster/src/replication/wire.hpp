// annals -- event-sourced aggregates on the C++ Actor Framework.
// Part of the replication core: replica messages as bytes between nodes.
#pragma once

#include "annals/persistence/stream.hpp"

#include "replication/messages.hpp"

#include <caf/expected.hpp>

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace annals::replication {

/// Encodes `msg` (u8 format version 1, u8 message kind, fields little
/// endian, strings and lists length-prefixed).
std::string encode_message(const message& msg);

/// Decodes bytes from a peer. Never trusts them: an unknown version or kind,
/// a short or overlong frame, a list longer than the frame can hold yields
/// `journal_errc::invalid_argument` naming the fault, never a crash.
caf::expected<message> decode_message(std::string_view bytes);

/// One encoded message for the replica of `partition` on a peer.
struct partition_frame {
  partition_id partition = 0;
  std::string_view bytes;
};

/// The largest batch `encode_frames` makes (bytes): a batch stops before a
/// frame that would take it past this, unless it is the batch's first.
inline constexpr std::size_t max_frames_batch = 1 << 20;

/// Packs frames for one peer into batches (u8 format version 1, u32 count,
/// then per frame u32 partition, u32 length, bytes; little endian), in
/// order: one network message per peer and round instead of one per
/// partition. Appends the batches to `out`.
void encode_frames(const std::vector<partition_frame>& frames,
                   std::vector<std::string>& out);

/// Unpacks a batch from a peer; the frames view `bytes`. Never trusts it:
/// an unknown version, a count or length past the end, or trailing bytes
/// yield `journal_errc::invalid_argument` naming the fault and no frame.
caf::expected<std::vector<partition_frame>>
decode_frames(std::string_view bytes);

} // namespace annals::replication
