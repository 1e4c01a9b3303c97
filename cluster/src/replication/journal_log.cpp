// annals -- event-sourced aggregates on the C++ Actor Framework.
// Part of the replication core: one partition of an annals journal as the
// log a replica drives.
#include "replication/journal_log.hpp"

#include "annals/failpoint.hpp"
#include "annals/persistence/errc.hpp"

#include "replication/event_entry.hpp"

namespace annals::replication {

stream_id marker_stream(partition_id p, uint32_t partition_count) {
  auto prefix = std::to_string(p) + ".";
  for (uint64_t k = 0;; ++k) {
    stream_id s{"$epochs", prefix + std::to_string(k)};
    if (partition_of(s, partition_count) == p) {
      return s;
    }
  }
}

caf::expected<std::unique_ptr<journal_log>>
journal_log::open(journal& j, partition_id p, write_stage* stage) {
  if (p >= j.partition_count()) {
    return make_error(journal_errc::invalid_argument,
                      "partition " + std::to_string(p) + " out of range");
  }
  std::unique_ptr<journal_log> log{new journal_log(j, p, stage)};
  if (auto err = log->refresh()) {
    return err;
  }
  return log;
}

journal_log::journal_log(journal& j, partition_id p, write_stage* stage)
  : journal_(j), stage_(stage), partition_(p),
    markers_(marker_stream(p, j.partition_count())),
    incarnation_(j.incarnation()) {
}

journal_log::~journal_log() {
  if (stage_ != nullptr && staged_) {
    stage_->forget(this);
  }
}

caf::error journal_log::flush_stage() const {
  return staged_ ? stage_->flush() : caf::error{};
}

caf::error journal_log::refresh() {
  if (auto err = flush_stage()) {
    return err;
  }
  auto ends = journal_.partition_ends();
  if (!ends) {
    return std::move(ends.error());
  }
  auto fence = journal_.partition_epoch(partition_);
  if (!fence) {
    return std::move(fence.error());
  }
  auto lin = journal_.partition_lineage(partition_);
  if (!lin) {
    return std::move(lin.error());
  }
  end_ = (*ends)[partition_];
  fence_ = *fence;
  lineage_ = std::move(*lin);
  return {};
}

caf::error journal_log::advance(position end, uint64_t epoch) {
  if (staged_ || end < end_ || epoch > last_epoch(lineage_)
      || (epoch == 0 && end != end_)) {
    return refresh();
  }
  end_ = end;
  return {};
}

position journal_log::end() const noexcept {
  return end_;
}

position journal_log::durable_end() const noexcept {
  return staged_ ? durable_end_ : end_;
}

uint64_t journal_log::fence() const noexcept {
  return fence_;
}

const lineage& journal_log::entries_lineage() const noexcept {
  return lineage_;
}

const std::string& journal_log::incarnation() const noexcept {
  return incarnation_;
}

caf::error journal_log::raise_fence(uint64_t epoch) {
  if (epoch <= fence_) {
    return {};
  }
  if (stage_ != nullptr) {
    // Group commit: durable with the stage's next flush, like a staged
    // append; the driver holds this replica's messages until then.
    begin_staging();
    stage_->add_fence(this, durable_end_, epoch);
    fence_ = epoch;
    return {};
  }
  write_batch batch;
  batch.fences.push_back({partition_, epoch});
  ANNALS_CRASH_POINT("annals/replica/before_fence");
  if (auto res = journal_.commit(batch); !res) {
    return std::move(res.error());
  }
  // Durable: the replica has not answered the fence nor acted on it.
  ANNALS_CRASH_POINT("annals/replica/after_fence");
  fence_ = epoch;
  return {};
}

void journal_log::begin_staging() {
  if (!staged_) {
    staged_ = true;
    durable_end_ = end_;
  }
}

caf::error journal_log::append(position expected_end, uint64_t writer_epoch,
                               const std::vector<log_entry>& entries) {
  auto refuse = [this](std::string what) {
    return make_error(journal_errc::invalid_argument,
                      "replicated entries for partition "
                        + std::to_string(partition_) + ": " + std::move(what));
  };
  if (entries.empty() || !entries.back().ends_append) {
    return refuse("not whole appends");
  }
  write_batch batch;
  append_request* open = nullptr;
  for (const auto& entry : entries) {
    auto ev = decode_entry(entry.payload);
    if (!ev) {
      return std::move(ev.error());
    }
    if (partition_of(ev->stream, journal_.partition_count()) != partition_) {
      return refuse("stream " + to_string(ev->stream)
                    + " belongs to another partition");
    }
    if (ev->rev == 0) {
      return refuse("revision 0 of " + to_string(ev->stream));
    }
    if (open == nullptr) {
      auto& req = batch.appends.emplace_back();
      req.stream = ev->stream;
      req.expected = expected_revision::exactly(ev->rev - 1);
      req.command_id = ev->command_id;
      req.epoch = entry.epoch;
      req.writer_epoch = writer_epoch;
      req.verbatim = true;
      open = &req;
    } else if (ev->stream != open->stream || ev->command_id != open->command_id
               || entry.epoch != open->epoch
               || ev->rev != open->expected.value() + open->events.size() + 1) {
      return refuse("an append of " + to_string(open->stream)
                    + " continues with another stream, command, epoch or "
                      "revision");
    }
    event_data data;
    data.type = std::move(ev->type);
    data.schema_version = ev->schema_version;
    data.timestamp_ns = ev->timestamp_ns;
    data.correlation_id = std::move(ev->correlation_id);
    data.causation_id = std::move(ev->causation_id);
    data.payload = std::move(ev->payload);
    open->events.push_back(std::move(data));
    if (entry.ends_append) {
      open = nullptr;
    }
  }
  if (stage_ == nullptr) {
    return commit_appends(expected_end, batch);
  }
  // Group commit: staged now, committed by the stage's next flush.
  return stage_appends(expected_end, writer_epoch, batch, false);
}

caf::error journal_log::stage_appends(position expected_end,
                                      uint64_t writer_epoch, write_batch& batch,
                                      bool marker) {
  // What the journal would refuse at once is refused here too.
  if (writer_epoch < fence_) {
    return make_error(journal_errc::stale_epoch,
                      "partition " + std::to_string(partition_) + ": epoch "
                        + std::to_string(writer_epoch)
                        + " is older than its fence " + std::to_string(fence_));
  }
  if (expected_end != end_) {
    return make_error(journal_errc::wrong_expected_position,
                      "partition " + std::to_string(partition_) + " ends at "
                        + std::to_string(end_) + ", not "
                        + std::to_string(expected_end));
  }
  begin_staging();
  for (const auto& req : batch.appends) {
    if (req.epoch != 0 && req.epoch > last_epoch(lineage_)) {
      lineage_.push_back({req.epoch, end_ + 1});
    }
    end_ += req.events.size();
    fence_
      = std::max(fence_, req.writer_epoch != 0 ? req.writer_epoch : req.epoch);
  }
  stage_->add(this, durable_end_, std::move(batch.appends), marker);
  return {};
}

caf::error
journal_log::settle(position staged_from,
                    std::vector<caf::expected<append_result>>& results) {
  staged_ = false;
  position landed = 0;
  if (auto err = check_landed(staged_from, results, landed)) {
    return err;
  }
  if (landed == end_) {
    return {};
  }
  // Cannot happen (staged appends continue one another): undo them.
  auto err = make_error(
    journal_errc::wrong_expected_position,
    "partition " + std::to_string(partition_) + ": the staged appends end at "
      + std::to_string(landed) + " instead of " + std::to_string(end_));
  if (auto cut = journal_.truncate_partition(partition_, staged_from); !cut) {
    return std::move(cut.error());
  }
  if (auto e = refresh()) {
    return e;
  }
  return err;
}

void journal_log::settle_failed() {
  staged_ = false;
  static_cast<void>(refresh()); // a failed re-read shows at the next use
}

caf::error journal_log::append_marker(position expected_end, uint64_t epoch) {
  write_batch batch;
  auto& req = batch.appends.emplace_back();
  req.stream = markers_;
  req.epoch = epoch;
  req.writer_epoch = epoch;
  event_data data;
  data.type = marker_type;
  req.events.push_back(std::move(data));
  if (stage_ != nullptr) {
    // Group commit: the markers of every partition this node takes over
    // in one flush. The driver holds this replica's messages and its
    // `serving` until the flush made the marker durable.
    return stage_appends(expected_end, epoch, batch, true);
  }
  auto err = commit_appends(expected_end, batch);
  // Durable: the new leader has not served its epoch yet.
  ANNALS_CRASH_POINT_IF(!err, "annals/replica/after_marker");
  return err;
}

caf::error journal_log::commit_appends(position expected_end,
                                       write_batch& batch) {
  bool new_epoch = false;
  for (const auto& req : batch.appends) {
    new_epoch = new_epoch || req.epoch > last_epoch(lineage_);
  }
  batch.expected_ends.push_back({partition_, expected_end});
  auto res = journal_.commit(batch);
  if (!res) {
    return std::move(res.error());
  }
  position landed = 0;
  if (auto err = check_landed(expected_end, res->appends, landed)) {
    return err;
  }
  end_ = landed;
  for (const auto& req : batch.appends) {
    fence_
      = std::max(fence_, req.writer_epoch != 0 ? req.writer_epoch : req.epoch);
  }
  if (new_epoch) {
    // The journal started a lineage entry at the append's first event.
    auto lin = journal_.partition_lineage(partition_);
    if (!lin) {
      return std::move(lin.error());
    }
    lineage_ = std::move(*lin);
  }
  return {};
}

caf::error
journal_log::check_landed(position expected_end,
                          std::vector<caf::expected<append_result>>& results,
                          position& landed) {
  caf::error first_error;
  bool wrote = false;
  auto next = expected_end + 1;
  for (auto& out : results) {
    if (!out) {
      if (!first_error) {
        first_error = std::move(out.error());
      }
      continue;
    }
    wrote = true;
    if (!first_error && out->first_position != next) {
      first_error = make_error(journal_errc::wrong_expected_position,
                               "partition " + std::to_string(partition_)
                                 + ": an append landed at "
                                 + std::to_string(out->first_position)
                                 + " instead of " + std::to_string(next));
    }
    next = out->last_position + 1;
  }
  if (first_error) {
    // All or nothing: undo the parts the journal took.
    if (wrote) {
      if (auto cut = journal_.truncate_partition(partition_, expected_end);
          !cut) {
        return std::move(cut.error());
      }
    }
    if (auto err = refresh()) {
      return err;
    }
    return first_error;
  }
  landed = next - 1;
  return {};
}

caf::error journal_log::truncate(position after) {
  if (auto err = flush_stage()) {
    return err;
  }
  if (after >= end_) {
    return {};
  }
  if (after > 0) {
    auto last = journal_.read_partition(partition_, after, 1);
    if (!last) {
      return std::move(last.error());
    }
    if (last->empty() || !last->front().ends_append) {
      return make_error(journal_errc::invalid_argument,
                        "partition " + std::to_string(partition_)
                          + ": position " + std::to_string(after)
                          + " does not end an append");
    }
  }
  if (auto cut = journal_.truncate_partition(partition_, after); !cut) {
    return std::move(cut.error());
  }
  // The suffix is gone for good; nothing is appended in its place yet.
  ANNALS_CRASH_POINT("annals/replica/after_truncate");
  return refresh();
}

caf::expected<std::vector<log_entry>> journal_log::read(position from,
                                                        position to) const {
  std::vector<log_entry> out;
  if (to < from) {
    return out;
  }
  if (auto err = flush_stage()) {
    return err;
  }
  auto err = journal_.scan_partition(partition_, std::max<position>(from, 1),
                                     [&out, to](const event_view& ev) {
                                       if (ev.pos > to) {
                                         return false;
                                       }
                                       out.push_back(to_entry(ev));
                                       return true;
                                     });
  if (err) {
    return err;
  }
  return out;
}

caf::error journal_log::sync() {
  return flush_stage(); // every commit is durable
}

} // namespace annals::replication
