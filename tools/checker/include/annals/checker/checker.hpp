// annals -- event-sourced aggregates on the C++ Actor Framework.
// Part of the history checker (tools/checker): Jepsen-style verification of
// a client history against the journals of every node.
//
// # History format
// A text file, one event per line, in the order the events happened (the
// harness writes lines under one lock, so file order is real-time order).
// Fields are separated by blanks; `#` starts a comment line; blank lines
// are ignored. A stream is written as `category/id` (as `to_string` of a
// `stream_id` renders it); no field contains blanks.
//
//   invoke  <client> <stream> <command_id>
//   ok      <client> <stream> <command_id> [<revision> | <first>..<last>]
//   fail    <client> <stream> <command_id>
//   unknown <client> <stream> <command_id>
//   seen    <subscriber> <stream> <revision> [<command_id>]
//
// - `invoke` is written before the command is sent, the outcome after its
//   reply. A client may invoke the same command id again (a retry); each
//   attempt has its own invoke and outcome line.
// - `ok`: an acknowledgement; the revision is the ack's last revision, or
//   the range of revisions of the command's events.
// - `fail`: a *definite* error: this attempt applied nothing.
// - `unknown`: indeterminate (timeout, connection lost, node crashed): the
//   command was applied 0 or 1 times.
// - `seen`: subscriber `<subscriber>` received revision `<revision>` of
//   `<stream>` (in receive order; each subscriber reads from revision 1).
//
// # Journals
// One journal per node, opened after the nodes stopped. For each partition
// the *owner's* journal is the one with the highest partition epoch, then
// the highest epoch of its last event, then the longest log: it holds the
// partition's latest data. Every other journal must agree with it wherever
// both hold a revision.
//
// # Anomalies (names after jepsen.tests.kafka where one exists)
// - `lost-write`: an `ok` command is not in the owner's journal at the
//   acknowledged revision (missing, or another command is there).
// - `inconsistent-ack`: two `ok` lines of one command disagree.
// - `duplicate`: a command id of a stream appears in two separate appends
//   (its events are not one contiguous run of revisions, or the run is
//   longer than the acknowledged range or `max_events_per_command`).
// - `gap`: a stream's revisions in some journal are not exactly 1..N in
//   partition order, or the journal reports a damaged record or index.
// - `realtime-order`: a command acknowledged at revision <= the highest
//   revision acknowledged on its stream before the command was first
//   invoked (if ack(A) precedes invoke(B) then rev(A) < rev(B)).
// - `two-histories`: the same (stream, revision) differs between journals
//   (command id, epoch, type, schema version, metadata, timestamp or
//   payload bytes), or a journal has revisions beyond the owner's.
// - `stale-epoch`: epochs decrease along the positions of a partition log.
// - `aborted-read`: a command whose every attempt failed definitely
//   appears in a journal.
// - `sub-gap`: a subscriber skipped a revision or started after 1.
// - `sub-phantom`: a subscriber saw a revision the owner's journal does not
//   have, or another command than the one stored there.
// - `journal-error`: a journal cannot be read.
// Subscriber duplicates (at-least-once redelivery) are counted, not errors.
#pragma once

#include "annals/persistence/journal.hpp"

#include <cstddef>
#include <cstdint>
#include <istream>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace annals::checker {

enum class op_type : uint8_t { invoke, ok, fail, unknown, seen };

/// One line of a history.
struct op {
  op_type type = op_type::invoke;
  /// The client (or, for `seen`, the subscriber).
  std::string client;
  /// `category/id`.
  std::string stream;
  /// Empty for a `seen` line without one.
  std::string command_id;
  /// `ok`: the acknowledged range (0 = not given); `seen`: `last` only.
  revision first = 0;
  revision last = 0;
  std::size_t line = 0;
};

struct history {
  std::vector<op> ops;
};

/// Parses the text format above.
/// @returns the history, or an error message naming the bad line.
std::optional<history> parse_history(std::istream& in, std::string& error);

/// Renders one op in the text format (for histories written by harnesses).
std::string to_line(const op& x);

/// A journal to check, with the name used in reports (e.g. the node).
struct journal_source {
  std::string name;
  const journal* store = nullptr;
};

struct options {
  /// The most events one command emits; 0 = unknown. With 1, a command id
  /// at two adjacent revisions is a duplicate even without an ack.
  uint32_t max_events_per_command = 0;
  /// Examples kept per anomaly class.
  std::size_t max_examples = 8;
};

struct anomaly_class {
  std::size_t count = 0;
  std::vector<std::string> examples;
};

struct report {
  /// Anomaly name -> count and examples; only classes that occurred.
  std::map<std::string, anomaly_class> anomalies;
  std::size_t ops = 0;
  std::size_t oks = 0;
  std::size_t events = 0;
  std::size_t journals = 0;
  std::size_t seen = 0;
  std::size_t subscriber_duplicates = 0;

  bool valid() const noexcept {
    return anomalies.empty();
  }
  std::size_t count(const std::string& name) const {
    auto it = anomalies.find(name);
    return it == anomalies.end() ? 0 : it->second.count;
  }
  /// A human-readable summary, one anomaly class per paragraph.
  std::string to_string() const;
};

/// Checks `h` against `journals` (one per node).
report check(const history& h, const std::vector<journal_source>& journals,
             const options& opts = {});

} // namespace annals::checker
