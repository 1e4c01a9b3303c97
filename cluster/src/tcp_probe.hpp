// annals -- event-sourced aggregates on the C++ Actor Framework.
// Part of the cluster module (internal): a bounded TCP reachability probe.
//
// CAF 0.17's middleman connects with a blocking connect(2) on its one
// thread. To a host whose packets are dropped (a partition, a firewall)
// that call lasts the kernel's SYN retries -- about two minutes -- and
// holds up every other connect of the process; after the network heals
// the next retransmission may still be half a minute away. Probing with a
// bounded, non-blocking connect first keeps a dial to an unreachable peer
// to `timeout`, so a node reconnects within about a second of healing.
#pragma once

#include <caf/error.hpp>

#include <chrono>
#include <cstdint>
#include <string>

namespace annals::cluster::detail {

/// Whether `host:port` accepts a TCP connection within `timeout`; the
/// connection is closed again at once (the peer sees a connection that
/// ends before its handshake).
/// @returns nothing on success, else `errc::unavailable` naming the
///   address and the cause (refused, timed out, no such host).
/// Threads: blocks the calling thread for up to `timeout` (plus name
///   resolution): call it from a detached actor or a user thread.
caf::error probe_tcp(const std::string& host, uint16_t port,
                     std::chrono::milliseconds timeout);

} // namespace annals::cluster::detail
