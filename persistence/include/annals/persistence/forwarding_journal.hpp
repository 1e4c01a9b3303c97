// annals -- event-sourced aggregates on the C++ Actor Framework.
// Part of the persistence module: a journal that forwards to another one.
#pragma once

#include "annals/persistence/journal.hpp"

#include <memory>

namespace annals {

/// Forwards every call to `inner`. Derive from it to observe or alter some
/// calls (fault injection in tests, timing in benchmarks) and keep the rest.
/// Thread rules are the inner journal's.
class forwarding_journal : public journal {
public:
  explicit forwarding_journal(std::shared_ptr<journal> inner)
    : inner_(std::move(inner)) {
  }

  uint32_t partition_count() const noexcept override {
    return inner_->partition_count();
  }
  caf::expected<batch_result> commit(const write_batch& b) override {
    return inner_->commit(b);
  }
  caf::error scan_stream(const stream_id& s, revision from,
                         const event_visitor& f) const override {
    return inner_->scan_stream(s, from, f);
  }
  caf::error scan_partition(partition_id p, position from,
                            const event_visitor& f) const override {
    return inner_->scan_partition(p, from, f);
  }
  caf::error scan_log(uint64_t from, const log_visitor& f) const override {
    return inner_->scan_log(from, f);
  }
  caf::expected<std::optional<uint64_t>> locate(partition_id p,
                                                position pos) const override {
    return inner_->locate(p, pos);
  }
  caf::expected<std::optional<append_result>>
  find_command(const stream_id& s, const std::string& id) const override {
    return inner_->find_command(s, id);
  }
  caf::expected<revision> last_revision(const stream_id& s) const override {
    return inner_->last_revision(s);
  }
  caf::expected<std::vector<position>> partition_ends() const override {
    return inner_->partition_ends();
  }
  caf::expected<uint64_t> partition_epoch(partition_id p) const override {
    return inner_->partition_epoch(p);
  }
  caf::expected<std::vector<epoch_start>>
  partition_lineage(partition_id p) const override {
    return inner_->partition_lineage(p);
  }
  std::string incarnation() const override {
    return inner_->incarnation();
  }
  caf::expected<uint64_t> truncate_partition(partition_id p,
                                             position after) override {
    return inner_->truncate_partition(p, after);
  }
  caf::expected<std::optional<snapshot>>
  load_snapshot(const stream_id& s, revision at_most) const override {
    return inner_->load_snapshot(s, at_most);
  }
  caf::expected<std::optional<position>>
  load_checkpoint(const std::string& c, partition_id p) const override {
    return inner_->load_checkpoint(c, p);
  }
  caf::expected<std::optional<std::string>>
  load_model(const std::string& m, const std::string& k) const override {
    return inner_->load_model(m, k);
  }
  caf::error scan_checkpoints(const checkpoint_visitor& f) const override {
    return inner_->scan_checkpoints(f);
  }
  caf::error scan_model(const std::string& m,
                        const model_visitor& f) const override {
    return inner_->scan_model(m, f);
  }
  caf::expected<verify_report> verify() const override {
    return inner_->verify();
  }
  caf::expected<journal_stats> stats() const override {
    return inner_->stats();
  }

protected:
  journal& inner() noexcept {
    return *inner_;
  }

private:
  std::shared_ptr<journal> inner_;
};

} // namespace annals
