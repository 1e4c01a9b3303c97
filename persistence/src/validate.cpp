// annals -- event-sourced aggregates on the C++ Actor Framework.
#include "validate.hpp"

#include "annals/persistence/errc.hpp"

#include <limits>

namespace annals::detail {

namespace {

constexpr std::size_t max_name = std::numeric_limits<uint16_t>::max();

/// The subject of an error message, built only when there is an error.
template <class Where>
caf::error check_name(std::string_view what, std::string_view value,
                      bool required, const Where& where,
                      std::size_t limit = max_name) {
  if (required && value.empty()) [[unlikely]]
    return make_error(journal_errc::invalid_argument,
                      where() + ": " + std::string{what} + " is empty");
  if (value.size() > limit) [[unlikely]]
    return make_error(journal_errc::invalid_argument,
                      where() + ": " + std::string{what} + " is longer than "
                        + std::to_string(limit) + " bytes");
  return {};
}

auto about(const stream_id& s, std::string_view prefix = "stream ") {
  return [&s, prefix] { return std::string{prefix} + to_string(s); };
}

auto about(std::string_view text) {
  return [text] { return std::string{text}; };
}

caf::error check_stream(const stream_id& s) {
  if (auto err
      = check_name("category", s.category, true, about(s), max_category_bytes))
    return err;
  return check_name("id", s.id, false, about(s), max_stream_id_bytes);
}

} // namespace

caf::error validate(const append_request& req, const journal_options& opts) {
  if (auto err = check_stream(req.stream))
    return err;
  auto where = about(req.stream);
  if (req.events.empty())
    return make_error(journal_errc::invalid_argument,
                      where() + ": append without events");
  if (auto err = check_name("command id", req.command_id, false, where,
                            max_command_id_bytes))
    return err;
  for (const auto& ev : req.events) {
    if (auto err = check_name("event type", ev.type, true, where))
      return err;
    if (auto err
        = check_name("correlation id", ev.correlation_id, false, where))
      return err;
    if (auto err = check_name("causation id", ev.causation_id, false, where))
      return err;
    if (ev.payload.size() > opts.max_payload_bytes) [[unlikely]]
      return make_error(journal_errc::too_large,
                        where() + ": event payload of "
                          + std::to_string(ev.payload.size())
                          + " bytes exceeds the limit of "
                          + std::to_string(opts.max_payload_bytes));
  }
  return {};
}

caf::error validate(const snapshot& snap, const journal_options& opts) {
  if (auto err = check_stream(snap.stream))
    return err;
  auto where = about(snap.stream, "snapshot of stream ");
  if (snap.rev == 0)
    return make_error(journal_errc::invalid_argument, where() + ": revision 0");
  if (auto err = check_name("type", snap.type, true, where))
    return err;
  if (snap.payload.size() > opts.max_payload_bytes)
    return make_error(journal_errc::too_large,
                      where() + ": payload of "
                        + std::to_string(snap.payload.size())
                        + " bytes exceeds the limit of "
                        + std::to_string(opts.max_payload_bytes));
  return {};
}

caf::error validate(const checkpoint_write& cp, uint32_t partitions) {
  if (auto err
      = check_name("consumer", cp.consumer, true, about("checkpoint"), 400))
    return err;
  if (cp.partition >= partitions)
    return make_error(journal_errc::invalid_argument,
                      "checkpoint of " + cp.consumer + ": partition "
                        + std::to_string(cp.partition) + " out of range");
  return {};
}

caf::error validate(const model_write& mw) {
  if (auto err = check_name("model", mw.model, true, about("model write"), 100))
    return err;
  if (mw.key.empty() || mw.key.size() > 400)
    return make_error(journal_errc::invalid_argument,
                      "model " + mw.model + ": key must be 1..400 bytes");
  if (mw.value.size() > std::numeric_limits<uint32_t>::max())
    return make_error(journal_errc::too_large,
                      "model " + mw.model + ": value too large");
  return {};
}

caf::error validate_whole(const write_batch& batch, const journal_options& opts,
                          uint32_t partitions) {
  for (const auto& s : batch.snapshots)
    if (auto err = validate(s, opts))
      return err;
  for (const auto& c : batch.checkpoints)
    if (auto err = validate(c, partitions))
      return err;
  for (const auto& m : batch.models)
    if (auto err = validate(m))
      return err;
  for (const auto& f : batch.fences)
    if (f.partition >= partitions)
      return make_error(journal_errc::invalid_argument,
                        "epoch fence for partition "
                          + std::to_string(f.partition) + " of "
                          + std::to_string(partitions));
  for (const auto& x : batch.expected_ends)
    if (x.partition >= partitions)
      return make_error(journal_errc::invalid_argument,
                        "expected end for partition "
                          + std::to_string(x.partition) + " of "
                          + std::to_string(partitions));
  return {};
}

} // namespace annals::detail
