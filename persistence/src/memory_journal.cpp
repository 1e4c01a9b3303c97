// annals -- event-sourced aggregates on the C++ Actor Framework.
//
// The in-memory journal: the same semantics as the LMDB journal (checked by
// the shared conformance suite) without durability. For tests of the layers
// above and as an executable reference of the contract.

#include "annals/persistence/journal.hpp"

#include "codec.hpp"
#include "validate.hpp"

#include <algorithm>
#include <deque>
#include <map>
#include <mutex>
#include <shared_mutex>

namespace annals {

namespace {

using namespace detail;

class memory_journal final : public journal {
public:
  explicit memory_journal(const journal_options& opts)
    : opts_(opts), partitions_(opts.partitions == 0 ? 1024 : opts.partitions),
      logs_(partitions_), epochs_(partitions_, 0), lineage_(partitions_),
      incarnation_(new_incarnation()), seqs_(partitions_) {
  }

  uint32_t partition_count() const noexcept override {
    return partitions_;
  }

  caf::expected<batch_result> commit(const write_batch& batch) override {
    std::unique_lock guard{mtx_};
    if (auto err = validate_whole(batch, opts_, partitions_))
      return err;
    batch_result out;
    auto now = now_ns();
    std::vector<partition_id> refused;
    for (const auto& x : batch.expected_ends)
      if (logs_[x.partition].size() != x.end)
        refused.push_back(x.partition);
    for (const auto& req : batch.appends) {
      if (auto err = validate(req, opts_)) {
        out.appends.emplace_back(std::move(err));
        continue;
      }
      auto p = partition_of(req.stream, partitions_);
      if (std::find(refused.begin(), refused.end(), p) != refused.end()) {
        out.appends.emplace_back(make_error(
          journal_errc::wrong_expected_position,
          "stream " + to_string(req.stream) + ": partition " + std::to_string(p)
            + " does not end where the batch expected"));
        continue;
      }
      if (!req.command_id.empty() && !req.verbatim) {
        if (auto found = in_window(req.stream, req.command_id)) {
          out.appends.emplace_back(*found);
          continue;
        }
      }
      auto writer = req.writer_epoch != 0 ? req.writer_epoch : req.epoch;
      if (writer != 0) {
        if (writer < epochs_[p]) {
          out.appends.emplace_back(make_error(
            journal_errc::stale_epoch,
            "stream " + to_string(req.stream) + ": epoch "
              + std::to_string(writer) + " is older than partition "
              + std::to_string(p) + "'s epoch " + std::to_string(epochs_[p])));
          continue;
        }
        epochs_[p] = writer;
      }
      auto& stream = streams_[req.stream];
      revision last = stream.size();
      if (!req.expected.admits(last)) {
        out.appends.emplace_back(make_conflict_error(
          "stream " + to_string(req.stream) + ": expected revision "
            + to_string(req.expected) + ", actual " + std::to_string(last),
          last));
        continue;
      }
      auto& log = logs_[p];
      append_result res{p,
                        last + 1,
                        last + req.events.size(),
                        log.size() + 1,
                        log.size() + req.events.size(),
                        false};
      if (req.epoch != 0
          && (lineage_[p].empty() || lineage_[p].back().epoch < req.epoch))
        lineage_[p].push_back(epoch_start{req.epoch, res.first_position});
      for (std::size_t j = 0; j < req.events.size(); ++j) {
        const auto& ev = req.events[j];
        recorded_event rec;
        rec.stream = req.stream;
        rec.rev = last + 1 + j;
        rec.partition = p;
        rec.pos = log.size() + 1;
        rec.type = ev.type;
        rec.schema_version = ev.schema_version;
        rec.timestamp_ns = ev.timestamp_ns != 0 ? ev.timestamp_ns : now;
        rec.meta = event_metadata{req.command_id, ev.correlation_id,
                                  ev.causation_id, req.epoch};
        rec.payload = ev.payload;
        rec.ends_append = j + 1 == req.events.size();
        stream.push_back(rec.pos);
        order_.emplace(next_seq_, std::make_pair(p, rec.pos));
        seqs_[p].push_back(next_seq_++);
        log.push_back(std::move(rec));
      }
      if (!req.command_id.empty()) {
      }
      out.appends.emplace_back(res);
    }
    for (const auto& s : batch.snapshots) {
      auto& list = snapshots_[s.stream];
      list[s.rev] = s;
      while (list.size() > std::max<uint32_t>(1, opts_.snapshots_kept))
        list.erase(list.begin());
    }
    for (const auto& c : batch.checkpoints)
      checkpoints_[{c.consumer, c.partition}] = c.pos;
    for (const auto& f : batch.fences)
      if (f.partition < partitions_)
        epochs_[f.partition] = std::max(epochs_[f.partition], f.epoch);
    for (const auto& m : batch.models) {
      if (m.erase)
        models_.erase({m.model, m.key});
      else
        models_[{m.model, m.key}] = m.value;
    }
    ++commits_;
    return out;
  }

  caf::error scan_stream(const stream_id& stream, revision from,
                         const event_visitor& f) const override {
    std::shared_lock guard{mtx_};
    auto it = streams_.find(stream);
    if (it == streams_.end())
      return {};
    auto p = partition_of(stream, partitions_);
    for (auto r = std::max<revision>(from, 1); r <= it->second.size(); ++r)
      if (!f(view_of(logs_[p][it->second[r - 1] - 1])))
        break;
    return {};
  }

  caf::error scan_partition(partition_id p, position from,
                            const event_visitor& f) const override {
    if (p >= partitions_)
      return make_error(journal_errc::invalid_argument,
                        "partition " + std::to_string(p) + " out of range");
    std::shared_lock guard{mtx_};
    const auto& log = logs_[p];
    for (auto pos = std::max<position>(from, 1); pos <= log.size(); ++pos)
      if (!f(view_of(log[pos - 1])))
        break;
    return {};
  }

  caf::error scan_log(uint64_t from, const log_visitor& f) const override {
    std::shared_lock guard{mtx_};
    for (auto it = order_.lower_bound(from); it != order_.end(); ++it) {
      auto [p, pos] = it->second;
      if (!f(it->first, view_of(logs_[p][pos - 1])))
        break;
    }
    return {};
  }

  caf::expected<std::optional<uint64_t>> locate(partition_id p,
                                                position pos) const override {
    if (p >= partitions_)
      return make_error(journal_errc::invalid_argument,
                        "partition " + std::to_string(p) + " out of range");
    std::shared_lock guard{mtx_};
    pos = std::max<position>(pos, 1);
    if (pos > seqs_[p].size())
      return std::optional<uint64_t>{};
    return std::optional<uint64_t>{seqs_[p][pos - 1]};
  }

  caf::expected<std::optional<append_result>>
  find_command(const stream_id& stream,
               const std::string& command_id) const override {
    std::shared_lock guard{mtx_};
    return in_window(stream, command_id);
  }

  caf::expected<revision>
  last_revision(const stream_id& stream) const override {
    std::shared_lock guard{mtx_};
    auto it = streams_.find(stream);
    return it == streams_.end() ? revision{0} : it->second.size();
  }

  caf::expected<std::vector<position>> partition_ends() const override {
    std::shared_lock guard{mtx_};
    std::vector<position> out;
    out.reserve(partitions_);
    for (const auto& log : logs_)
      out.push_back(log.size());
    return out;
  }

  caf::expected<uint64_t> partition_epoch(partition_id p) const override {
    std::shared_lock guard{mtx_};
    if (p >= partitions_)
      return make_error(journal_errc::invalid_argument,
                        "partition " + std::to_string(p) + " out of range");
    return epochs_[p];
  }

  caf::expected<std::vector<epoch_start>>
  partition_lineage(partition_id p) const override {
    std::shared_lock guard{mtx_};
    if (p >= partitions_)
      return make_error(journal_errc::invalid_argument,
                        "partition " + std::to_string(p) + " out of range");
    return lineage_[p];
  }

  std::string incarnation() const override {
    return incarnation_;
  }

  caf::expected<uint64_t> truncate_partition(partition_id p,
                                             position after) override {
    std::unique_lock guard{mtx_};
    if (p >= partitions_)
      return make_error(journal_errc::invalid_argument,
                        "partition " + std::to_string(p) + " out of range");
    auto& log = logs_[p];
    if (after >= log.size())
      return uint64_t{0};
    uint64_t removed = log.size() - after;
    std::map<stream_id, revision> ends; // stream -> new last revision
    for (auto i = after; i < log.size(); ++i) {
      const auto& ev = log[i];
      auto [it, fresh] = ends.try_emplace(ev.stream, ev.rev - 1);
      it->second = std::min(it->second, ev.rev - 1);
    }
    for (auto i = after; i < log.size(); ++i)
      order_.erase(seqs_[p][i]);
    seqs_[p].resize(after);
    log.resize(after);
    for (const auto& [s, end] : ends) {
      auto st = streams_.find(s);
      st->second.resize(end);
      if (end == 0)
        streams_.erase(st);
      if (auto sn = snapshots_.find(s); sn != snapshots_.end()) {
        sn->second.erase(sn->second.upper_bound(end), sn->second.end());
        if (sn->second.empty())
          snapshots_.erase(sn);
      }
    }
    for (auto& [key, pos] : checkpoints_)
      if (key.second == p)
        pos = std::min(pos, after);
    auto& lin = lineage_[p];
    while (!lin.empty() && lin.back().first > after)
      lin.pop_back();
    return removed;
  }

  caf::expected<std::optional<snapshot>>
  load_snapshot(const stream_id& stream, revision at_most) const override {
    std::shared_lock guard{mtx_};
    auto it = snapshots_.find(stream);
    if (it == snapshots_.end())
      return std::optional<snapshot>{};
    auto s = it->second.upper_bound(at_most);
    if (s == it->second.begin())
      return std::optional<snapshot>{};
    return std::optional<snapshot>{std::prev(s)->second};
  }

  caf::expected<std::optional<position>>
  load_checkpoint(const std::string& consumer, partition_id p) const override {
    std::shared_lock guard{mtx_};
    auto it = checkpoints_.find({consumer, p});
    if (it == checkpoints_.end())
      return std::optional<position>{};
    return std::optional<position>{it->second};
  }

  caf::expected<std::optional<std::string>>
  load_model(const std::string& model, const std::string& key) const override {
    std::shared_lock guard{mtx_};
    auto it = models_.find({model, key});
    if (it == models_.end())
      return std::optional<std::string>{};
    return std::optional<std::string>{it->second};
  }

  caf::error scan_model(const std::string& model,
                        const model_visitor& f) const override {
    std::shared_lock guard{mtx_};
    for (auto it = models_.lower_bound({model, std::string{}});
         it != models_.end() && it->first.first == model; ++it)
      if (!f(it->first.second, it->second))
        break;
    return {};
  }

  caf::error scan_checkpoints(const checkpoint_visitor& f) const override {
    std::shared_lock guard{mtx_};
    for (const auto& [key, pos] : checkpoints_)
      if (!f(key.first, key.second, pos))
        break;
    return {};
  }

  caf::expected<verify_report> verify() const override {
    std::shared_lock guard{mtx_};
    verify_report rep;
    for (const auto& log : logs_) {
      rep.events += log.size();
      rep.partitions_used += log.empty() ? 0 : 1;
    }
    rep.streams = streams_.size();
    for (const auto& [s, list] : snapshots_)
      rep.snapshots += list.size();
    return rep;
  }

  caf::expected<journal_stats> stats() const override {
    std::shared_lock guard{mtx_};
    journal_stats st;
    st.partitions = partitions_;
    for (const auto& log : logs_)
      st.events += log.size();
    for (const auto& [s, list] : snapshots_)
      st.snapshots += list.size();
    for (const auto& [s, positions] : streams_) {
      auto p = partition_of(s, partitions_);
      auto lo = positions.size() > opts_.dedupe_window
                  ? positions.size() - opts_.dedupe_window
                  : 0;
      std::string_view prev;
      for (auto i = lo; i < positions.size(); ++i) {
        std::string_view id = logs_[p][positions[i] - 1].meta.command_id;
        st.remembered_commands += !id.empty() && id != prev ? 1 : 0;
        prev = id;
      }
    }
    st.commits = commits_;
    return st;
  }

private:
  static event_view view_of(const recorded_event& ev) {
    event_view v;
    v.category = ev.stream.category;
    v.id = ev.stream.id;
    v.rev = ev.rev;
    v.partition = ev.partition;
    v.pos = ev.pos;
    v.type = ev.type;
    v.schema_version = ev.schema_version;
    v.timestamp_ns = ev.timestamp_ns;
    v.command_id = ev.meta.command_id;
    v.correlation_id = ev.meta.correlation_id;
    v.causation_id = ev.meta.causation_id;
    v.epoch = ev.meta.epoch;
    v.payload = ev.payload.data();
    v.payload_size = ev.payload.size();
    v.ends_append = ev.ends_append;
    return v;
  }

  /// The append of `command_id` among the stream's last `dedupe_window`
  /// events (consecutive events with its id), if any.
  std::optional<append_result> in_window(const stream_id& stream,
                                         const std::string& command_id) const {
    auto it = streams_.find(stream);
    if (it == streams_.end() || opts_.dedupe_window == 0)
      return std::nullopt;
    const auto& positions = it->second;
    auto p = partition_of(stream, partitions_);
    auto id_at = [&](revision r) -> const std::string& {
      return logs_[p][positions[r - 1] - 1].meta.command_id;
    };
    revision head = positions.size();
    revision lo
      = head > opts_.dedupe_window ? head - opts_.dedupe_window + 1 : 1;
    for (auto r = head; r >= lo; --r) {
      if (id_at(r) != command_id)
        continue;
      auto first = r;
      while (first > 1 && id_at(first - 1) == command_id)
        --first;
      return append_result{
        p, first, r, positions[first - 1], positions[r - 1], true};
    }
    return std::nullopt;
  }

  journal_options opts_;
  uint32_t partitions_;
  mutable std::shared_mutex mtx_;
  std::vector<std::vector<recorded_event>> logs_;
  std::vector<uint64_t> epochs_;
  std::vector<std::vector<epoch_start>> lineage_;
  std::string incarnation_;
  /// Per stream: the partition position of each revision.
  std::map<stream_id, std::vector<position>> streams_;
  /// Per partition, each position's log sequence number; and the log in
  /// commit order: sequence number -> (partition, position).
  std::vector<std::vector<uint64_t>> seqs_;
  std::map<uint64_t, std::pair<partition_id, position>> order_;
  uint64_t next_seq_ = 1;
  std::map<stream_id, std::map<revision, snapshot>> snapshots_;
  std::map<std::pair<std::string, partition_id>, position> checkpoints_;
  std::map<std::pair<std::string, std::string>, std::string> models_;
  uint64_t commits_ = 0;
};

} // namespace

std::unique_ptr<journal> make_memory_journal(const journal_options& opts) {
  return std::make_unique<memory_journal>(opts);
}

} // namespace annals
