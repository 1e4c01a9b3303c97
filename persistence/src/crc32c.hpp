// annals -- event-sourced aggregates on the C++ Actor Framework.
// CRC-32C (Castagnoli), the checksum of every stored record.
#pragma once

#include <cstddef>
#include <cstdint>

namespace annals::detail {

/// CRC-32C of `len` bytes at `data`, continuing from `crc` (0 to start).
/// Uses the SSE4.2 instruction when the CPU has it, a table otherwise; both
/// give identical results. Thread-safe.
uint32_t crc32c(const void* data, std::size_t len, uint32_t crc = 0) noexcept;

} // namespace annals::detail
