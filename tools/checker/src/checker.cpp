// annals -- event-sourced aggregates on the C++ Actor Framework.
#include "annals/checker/checker.hpp"

#include <algorithm>
#include <set>
#include <sstream>
#include <tuple>
#include <unordered_map>

namespace annals::checker {

namespace {

// -- parsing ------------------------------------------------------------------

bool parse_u64(const std::string& s, uint64_t& out) {
  if (s.empty() || s.size() > 19)
    return false;
  uint64_t x = 0;
  for (char c : s) {
    if (c < '0' || c > '9')
      return false;
    x = x * 10 + static_cast<uint64_t>(c - '0');
  }
  out = x;
  return true;
}

/// `R` or `F..R`.
bool parse_range(const std::string& s, revision& first, revision& last) {
  auto dots = s.find("..");
  if (dots == std::string::npos) {
    if (!parse_u64(s, last) || last == 0)
      return false;
    first = 0;
    return true;
  }
  return parse_u64(s.substr(0, dots), first)
         && parse_u64(s.substr(dots + 2), last) && first >= 1 && first <= last;
}

const char* name_of(op_type t) {
  switch (t) {
  case op_type::invoke:
    return "invoke";
  case op_type::ok:
    return "ok";
  case op_type::fail:
    return "fail";
  case op_type::unknown:
    return "unknown";
  case op_type::seen:
    return "seen";
  }
  return "?";
}

// -- journals -----------------------------------------------------------------

struct rec {
  revision rev = 0;
  partition_id part = 0;
  position pos = 0;
  uint64_t epoch = 0;
  std::string command_id;
  std::string type;
  uint32_t schema_version = 0;
  int64_t timestamp_ns = 0;
  std::string correlation_id;
  std::string causation_id;
  std::string payload;
};

/// What differs between two records of the same (stream, revision).
std::string difference(const rec& a, const rec& b) {
  std::string out;
  auto add = [&](const std::string& what) {
    if (!out.empty())
      out += ", ";
    out += what;
  };
  if (a.command_id != b.command_id)
    add("command " + a.command_id + " vs " + b.command_id);
  if (a.epoch != b.epoch)
    add("epoch " + std::to_string(a.epoch) + " vs " + std::to_string(b.epoch));
  if (a.type != b.type || a.schema_version != b.schema_version)
    add("type " + a.type + " vs " + b.type);
  if (a.payload != b.payload)
    add("payload");
  if (a.timestamp_ns != b.timestamp_ns)
    add("timestamp");
  if (a.correlation_id != b.correlation_id || a.causation_id != b.causation_id)
    add("metadata");
  return out;
}

struct loaded {
  std::string name;
  uint32_t partitions = 0;
  std::unordered_map<std::string, std::map<revision, rec>> streams;
  /// stream + '\n' + command id -> revisions (ascending).
  std::unordered_map<std::string, std::vector<revision>> commands;
  std::vector<uint64_t> fence_epoch;
  std::vector<uint64_t> last_epoch;
  std::vector<position> end;
};

std::string cmd_key(const std::string& stream, const std::string& cmd) {
  return stream + '\n' + cmd;
}

std::optional<stream_id> split_stream(const std::string& s) {
  auto slash = s.find('/');
  if (slash == std::string::npos || slash == 0)
    return std::nullopt;
  return stream_id{s.substr(0, slash), s.substr(slash + 1)};
}

class checker_run {
public:
  checker_run(const options& opts, report& rep) : opts_(opts), rep_(rep) {
  }

  void anomaly(const std::string& name, const std::string& example) {
    auto& a = rep_.anomalies[name];
    ++a.count;
    if (a.examples.size() < opts_.max_examples)
      a.examples.push_back(example);
  }

  void load(const journal_source& src) {
    loaded l;
    l.name = src.name;
    if (src.store == nullptr) {
      anomaly("journal-error", src.name + ": no journal");
      return;
    }
    const auto& j = *src.store;
    l.partitions = j.partition_count();
    l.fence_epoch.assign(l.partitions, 0);
    l.last_epoch.assign(l.partitions, 0);
    l.end.assign(l.partitions, 0);
    for (partition_id p = 0; p < l.partitions; ++p) {
      if (auto e = j.partition_epoch(p))
        l.fence_epoch[p] = *e;
      else
        anomaly("journal-error", src.name + ": partition " + std::to_string(p)
                                   + " epoch: " + describe(e.error()));
      uint64_t prev_epoch = 0;
      position prev_pos = 0;
      std::string prev_stream;
      revision prev_rev = 0;
      auto err = j.scan_partition(p, 1, [&](const event_view& ev) {
        ++rep_.events;
        auto stream = std::string{ev.category} + "/" + std::string{ev.id};
        if (ev.pos != prev_pos + 1)
          anomaly("gap", src.name + ": partition " + std::to_string(p)
                           + " position " + std::to_string(ev.pos) + " follows "
                           + std::to_string(prev_pos));
        if (ev.epoch < prev_epoch)
          anomaly("stale-epoch",
                  src.name + ": partition " + std::to_string(p) + " position "
                    + std::to_string(ev.pos) + " (" + stream + "@"
                    + std::to_string(ev.rev) + ", command "
                    + std::string{ev.command_id} + ") has epoch "
                    + std::to_string(ev.epoch) + " after epoch "
                    + std::to_string(prev_epoch) + " (" + prev_stream + "@"
                    + std::to_string(prev_rev) + ")");
        prev_epoch = std::max(prev_epoch, ev.epoch);
        prev_pos = ev.pos;
        prev_stream = stream;
        prev_rev = ev.rev;
        auto& revs = l.streams[stream];
        auto expect = revs.empty() ? 1 : revs.rbegin()->first + 1;
        if (ev.rev != expect)
          anomaly("gap", src.name + ": " + stream + " revision "
                           + std::to_string(ev.rev) + " where "
                           + std::to_string(expect) + " was due");
        rec r;
        r.rev = ev.rev;
        r.part = ev.partition;
        r.pos = ev.pos;
        r.epoch = ev.epoch;
        r.command_id = std::string{ev.command_id};
        r.type = std::string{ev.type};
        r.schema_version = ev.schema_version;
        r.timestamp_ns = ev.timestamp_ns;
        r.correlation_id = std::string{ev.correlation_id};
        r.causation_id = std::string{ev.causation_id};
        r.payload.assign(reinterpret_cast<const char*>(ev.payload),
                         ev.payload_size);
        if (!r.command_id.empty())
          l.commands[cmd_key(stream, r.command_id)].push_back(ev.rev);
        revs.emplace(ev.rev, std::move(r));
        l.last_epoch[p] = ev.epoch;
        l.end[p] = ev.pos;
        return true;
      });
      if (err)
        anomaly("gap", src.name + ": partition " + std::to_string(p)
                         + " cannot be read: " + describe(err));
    }
    journals_.push_back(std::move(l));
  }

  /// Index of the journal holding partition `p`'s latest data.
  std::size_t owner_of(partition_id p) const {
    std::size_t best = 0;
    auto key = [&](std::size_t i) {
      const auto& l = journals_[i];
      if (p >= l.partitions)
        return std::make_tuple(uint64_t{0}, uint64_t{0}, position{0});
      return std::make_tuple(l.fence_epoch[p], l.last_epoch[p], l.end[p]);
    };
    for (std::size_t i = 1; i < journals_.size(); ++i)
      if (key(i) > key(best))
        best = i;
    return best;
  }

  std::optional<partition_id> partition_of_stream(const std::string& s) const {
    if (journals_.empty())
      return std::nullopt;
    auto sid = split_stream(s);
    if (!sid)
      return std::nullopt;
    return partition_of(*sid, journals_.front().partitions);
  }

  const rec* find(std::size_t j, const std::string& stream, revision r) const {
    const auto& l = journals_[j];
    auto it = l.streams.find(stream);
    if (it == l.streams.end())
      return nullptr;
    auto rit = it->second.find(r);
    return rit == it->second.end() ? nullptr : &rit->second;
  }

  // -- cross-journal ----------------------------------------------------------

  void compare_journals() {
    if (journals_.empty())
      return;
    for (const auto& l : journals_)
      if (l.partitions != journals_.front().partitions)
        anomaly("journal-error",
                l.name + " has " + std::to_string(l.partitions)
                  + " partitions, " + journals_.front().name + " has "
                  + std::to_string(journals_.front().partitions));
    for (std::size_t j = 0; j < journals_.size(); ++j) {
      for (const auto& [stream, revs] : journals_[j].streams) {
        if (revs.empty())
          continue;
        auto o = owner_of(revs.begin()->second.part);
        if (o == j)
          continue;
        for (const auto& [r, x] : revs) {
          const auto* mine = find(o, stream, r);
          if (mine == nullptr) {
            anomaly("two-histories", journals_[j].name + " has " + stream + "@"
                                       + std::to_string(r) + " (command "
                                       + x.command_id + ", epoch "
                                       + std::to_string(x.epoch)
                                       + ") beyond the owner "
                                       + journals_[o].name + "'s history");
            continue;
          }
          auto diff = difference(*mine, x);
          if (!diff.empty())
            anomaly("two-histories", stream + "@" + std::to_string(r) + ": "
                                       + journals_[o].name + " (owner) vs "
                                       + journals_[j].name + ": " + diff);
        }
      }
    }
  }

  // -- the history ------------------------------------------------------------

  struct command_state {
    bool ok = false;
    bool unknown = false;
    bool fail = false;
    revision ok_first = 0;
    revision ok_last = 0;
    revision floor = 0;
    bool invoked = false;
    std::size_t ok_line = 0;
    std::string client;
  };

  void check_history(const history& h) {
    std::map<std::string, revision> max_acked;
    std::map<std::pair<std::string, std::string>, revision> sub_last;
    for (const auto& x : h.ops) {
      ++rep_.ops;
      if (x.type == op_type::seen) {
        ++rep_.seen;
        check_seen(x, sub_last);
        continue;
      }
      auto& c = commands_[{x.stream, x.command_id}];
      switch (x.type) {
      case op_type::invoke:
        if (!c.invoked) {
          c.invoked = true;
          c.floor = max_acked[x.stream];
        }
        break;
      case op_type::ok: {
        ++rep_.oks;
        auto first = x.first != 0 ? x.first : x.last;
        if (c.ok && x.last != 0 && c.ok_last != 0
            && (x.last != c.ok_last
                || (x.first != 0 && c.ok_first != 0 && x.first != c.ok_first)))
          anomaly("inconsistent-ack", "line " + std::to_string(x.line) + ": "
                                        + x.stream + " " + x.command_id
                                        + " acknowledged at "
                                        + std::to_string(x.last) + ", line "
                                        + std::to_string(c.ok_line) + " said "
                                        + std::to_string(c.ok_last));
        if (x.last != 0 && first <= c.floor)
          anomaly("realtime-order",
                  "line " + std::to_string(x.line) + ": " + x.client + " "
                    + x.stream + " " + x.command_id + " acknowledged at "
                    + std::to_string(x.last) + ", but revision "
                    + std::to_string(c.floor)
                    + " was acknowledged before it was first invoked");
        if (!c.ok) {
          c.ok = true;
          c.ok_first = x.first;
          c.ok_last = x.last;
          c.ok_line = x.line;
          c.client = x.client;
        }
        auto& m = max_acked[x.stream];
        m = std::max(m, x.last);
        break;
      }
      case op_type::fail:
        c.fail = true;
        break;
      case op_type::unknown:
        c.unknown = true;
        break;
      case op_type::seen:
        break;
      }
    }
    if (journals_.empty())
      return;
    for (const auto& [key, c] : commands_) {
      const auto& [stream, cmd] = key;
      auto p = partition_of_stream(stream);
      if (!p) {
        anomaly("journal-error", "stream " + stream + " is not category/id");
        continue;
      }
      auto o = owner_of(*p);
      if (c.ok)
        check_ok(o, stream, cmd, c);
      if (c.fail && !c.ok && !c.unknown)
        for (const auto& l : journals_)
          if (auto it = l.commands.find(cmd_key(stream, cmd));
              it != l.commands.end())
            anomaly("aborted-read", stream + " " + cmd
                                      + " failed definitely but is in " + l.name
                                      + " at revision "
                                      + std::to_string(it->second.front()));
    }
  }

  void check_ok(std::size_t o, const std::string& stream,
                const std::string& cmd, const command_state& c) {
    const auto& l = journals_[o];
    auto what = "line " + std::to_string(c.ok_line) + ": " + c.client + " "
                + stream + " " + cmd;
    if (c.ok_last == 0) {
      if (!l.commands.count(cmd_key(stream, cmd)))
        anomaly("lost-write",
                what + " acknowledged, absent from the owner " + l.name);
      return;
    }
    auto first = c.ok_first != 0 ? c.ok_first : c.ok_last;
    for (auto r = first; r <= c.ok_last; ++r) {
      const auto* x = find(o, stream, r);
      if (x == nullptr) {
        anomaly("lost-write", what + " acknowledged at " + std::to_string(r)
                                + ", but the owner " + l.name
                                + " has no such revision");
        return;
      }
      if (x->command_id != cmd) {
        auto it = l.commands.find(cmd_key(stream, cmd));
        anomaly("lost-write", what + " acknowledged at " + std::to_string(r)
                                + ", but the owner " + l.name + " has command "
                                + x->command_id + " there"
                                + (it == l.commands.end()
                                     ? std::string{"; the command is absent"}
                                     : "; the command is at "
                                         + std::to_string(it->second.front())));
        return;
      }
    }
  }

  void check_seen(
    const op& x,
    std::map<std::pair<std::string, std::string>, revision>& sub_last) {
    auto& last = sub_last[{x.client, x.stream}];
    if (x.last <= last) {
      ++rep_.subscriber_duplicates;
      return;
    }
    if (x.last != last + 1)
      anomaly("sub-gap", "line " + std::to_string(x.line) + ": subscriber "
                           + x.client + " saw " + x.stream + "@"
                           + std::to_string(x.last) + " after "
                           + std::to_string(last));
    last = x.last;
    if (journals_.empty())
      return;
    auto p = partition_of_stream(x.stream);
    if (!p)
      return;
    auto o = owner_of(*p);
    const auto* r = find(o, x.stream, x.last);
    if (r == nullptr)
      anomaly("sub-phantom", "line " + std::to_string(x.line) + ": subscriber "
                               + x.client + " saw " + x.stream + "@"
                               + std::to_string(x.last) + ", which the owner "
                               + journals_[o].name + " does not have");
    else if (!x.command_id.empty() && r->command_id != x.command_id)
      anomaly("sub-phantom", "line " + std::to_string(x.line) + ": subscriber "
                               + x.client + " saw " + x.stream + "@"
                               + std::to_string(x.last) + " as command "
                               + x.command_id + ", the owner "
                               + journals_[o].name + " has " + r->command_id);
  }

  // -- duplicates -------------------------------------------------------------

  void check_duplicates() {
    if (journals_.empty())
      return;
    std::set<std::string> streams;
    for (const auto& l : journals_)
      for (const auto& [s, revs] : l.streams)
        streams.insert(s);
    for (const auto& s : streams) {
      auto p = partition_of_stream(s);
      if (!p)
        continue;
      auto o = owner_of(*p);
      auto it = journals_[o].streams.find(s);
      if (it == journals_[o].streams.end())
        continue;
      std::unordered_map<std::string, std::vector<revision>> by_cmd;
      for (const auto& [r, x] : it->second)
        if (!x.command_id.empty())
          by_cmd[x.command_id].push_back(r);
      for (const auto& [cmd, revs] : by_cmd) {
        bool contiguous = revs.back() - revs.front() + 1 == revs.size();
        auto n = revs.size();
        auto c = commands_.find({s, cmd});
        std::size_t span = 0;
        if (c != commands_.end() && c->second.ok && c->second.ok_first != 0)
          span = c->second.ok_last - c->second.ok_first + 1;
        else if (c != commands_.end() && c->second.ok && c->second.ok_last != 0
                 && opts_.max_events_per_command == 1)
          span = 1;
        bool too_long = (span != 0 && n > span)
                        || (opts_.max_events_per_command != 0
                            && n > opts_.max_events_per_command);
        if (!contiguous || too_long) {
          std::string at;
          for (auto r : revs) {
            if (!at.empty())
              at += ',';
            at += std::to_string(r);
          }
          anomaly("duplicate", s + " " + cmd + " at revisions " + at + " in "
                                 + journals_[o].name);
        }
      }
    }
  }

private:
  const options& opts_;
  report& rep_;
  std::vector<loaded> journals_;
  std::map<std::pair<std::string, std::string>, command_state> commands_;
};

} // namespace

std::optional<history> parse_history(std::istream& in, std::string& error) {
  history h;
  std::string text;
  std::size_t line = 0;
  while (std::getline(in, text)) {
    ++line;
    std::istringstream ls{text};
    std::vector<std::string> f;
    for (std::string w; ls >> w;)
      f.push_back(w);
    if (f.empty() || f[0][0] == '#')
      continue;
    op x;
    x.line = line;
    auto bad = [&](const std::string& why) {
      error = "line " + std::to_string(line) + ": " + why + ": " + text;
      return std::nullopt;
    };
    const auto& kind = f[0];
    if (kind == "invoke")
      x.type = op_type::invoke;
    else if (kind == "ok")
      x.type = op_type::ok;
    else if (kind == "fail")
      x.type = op_type::fail;
    else if (kind == "unknown")
      x.type = op_type::unknown;
    else if (kind == "seen")
      x.type = op_type::seen;
    else
      return bad("unknown kind '" + kind + "'");
    if (f.size() < 4)
      return bad("too few fields");
    x.client = f[1];
    x.stream = f[2];
    if (!split_stream(x.stream))
      return bad("stream is not category/id");
    if (x.type == op_type::seen) {
      if (f.size() > 5 || !parse_u64(f[3], x.last) || x.last == 0)
        return bad("expected: seen <subscriber> <stream> <revision> [<cmd>]");
      if (f.size() == 5)
        x.command_id = f[4];
    } else {
      x.command_id = f[3];
      if (x.type == op_type::ok && f.size() == 5) {
        if (!parse_range(f[4], x.first, x.last))
          return bad("bad revision '" + f[4] + "'");
      } else if (f.size() != 4) {
        return bad("wrong number of fields");
      }
    }
    h.ops.push_back(std::move(x));
  }
  return h;
}

std::string to_line(const op& x) {
  std::string out = name_of(x.type);
  out += ' ';
  out += x.client;
  out += ' ';
  out += x.stream;
  if (x.type == op_type::seen) {
    out += ' ' + std::to_string(x.last);
    if (!x.command_id.empty())
      out += ' ' + x.command_id;
    return out;
  }
  out += ' ';
  out += x.command_id;
  if (x.type == op_type::ok && x.last != 0) {
    out += ' ';
    if (x.first != 0)
      out += std::to_string(x.first) + "..";
    out += std::to_string(x.last);
  }
  return out;
}

std::string report::to_string() const {
  std::ostringstream out;
  out << ops << " operations (" << oks << " ok), " << journals << " journals, "
      << events << " events, " << subscriber_duplicates
      << " subscriber duplicates\n";
  for (const auto& [name, a] : anomalies) {
    out << name << ": " << a.count << '\n';
    for (const auto& e : a.examples)
      out << "  " << e << '\n';
  }
  out << (valid() ? "VALID" : "INVALID") << '\n';
  return out.str();
}

report check(const history& h, const std::vector<journal_source>& journals,
             const options& opts) {
  report rep;
  rep.journals = journals.size();
  checker_run run{opts, rep};
  for (const auto& src : journals)
    run.load(src);
  run.compare_journals();
  run.check_history(h);
  run.check_duplicates();
  return rep;
}

} // namespace annals::checker
