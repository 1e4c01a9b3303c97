// annals -- event-sourced aggregates on the C++ Actor Framework.
// Part of the replication core: replica messages as bytes between nodes.
#pragma once

#include "replication/messages.hpp"

#include <caf/expected.hpp>

#include <string>
#include <string_view>

namespace annals::replication {

/// Encodes `msg` (u8 format version 1, u8 message kind, fields little
/// endian, strings and lists length-prefixed).
std::string encode_message(const message& msg);

/// Decodes bytes from a peer. Never trusts them: an unknown version or kind,
/// a short or overlong frame, a list longer than the frame can hold yields
/// `journal_errc::invalid_argument` naming the fault, never a crash.
caf::expected<message> decode_message(std::string_view bytes);

} // namespace annals::replication
