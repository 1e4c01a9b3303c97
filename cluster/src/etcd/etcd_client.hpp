// annals -- event-sourced aggregates on the C++ Actor Framework.
// Part of the cluster module (internal): a synchronous client of etcd 3.4's
// JSON gRPC gateway (`/v3/kv/*`, `/v3/lease/*`), the coordinator of the
// replicated cluster (docs: cluster/README.md, "etcd client").
//
// What: key-value reads (linearizable by default), puts, deletes,
// transactions (compare-and-swap) and leases, over HTTP/1.1 with
// Boost.Beast, plain or with mutual TLS from the cluster CA.
// Guarantees: every call returns within its deadline (default 1 s) plus
// name resolution of a non-numeric host; it never throws; answers are
// etcd's (a linearizable read sees every write acknowledged before it).
// Errors: `etcd_errc` (etcd_errc.hpp). Reads and keep-alives try every
// endpoint in turn (from the one that last answered) within the deadline;
// writes (put, erase, txn, grant, revoke) move on to the next endpoint only
// when their request was not sent or the member answered "no leader", so
// an `unavailable`, `timeout` or `malformed_response` after sending leaves
// the outcome unknown. Every request but a serializable read requires a
// leader (gRPC metadata "hasleader"): a member cut off from its cluster
// answers `unavailable` at once instead of hanging.
// Threads: a `client` is a cheap handle (copies share the endpoints, the
// TLS context and the endpoint that last answered); all calls are
// thread-safe and block the calling thread. One connection per call.
#pragma once

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace annals::cluster::etcd {

/// One key as stored (etcd's `mvccpb.KeyValue`). Revisions are cluster-wide
/// and grow with every write; `version` counts writes since the key's
/// creation (0 = absent); `lease` is 0 without a lease.
struct key_value {
  std::string key;
  std::string value;
  int64_t create_revision = 0;
  int64_t mod_revision = 0;
  int64_t version = 0;
  int64_t lease = 0;
};

/// The answer to a read: the store's revision when it was served
/// (`header.revision`) and the keys found, in key order.
struct range_result {
  int64_t revision = 0;
  std::vector<key_value> kvs;
  int64_t count = 0;
  bool more = false;
};

/// The revision a write produced (or, for a delete of nothing, the current
/// one) and, for deletes, how many keys went.
struct write_result {
  int64_t revision = 0;
  int64_t deleted = 0;
};

/// Linearizable reads go through etcd's leader (ReadIndex); serializable
/// ones are answered by the member alone and may be stale.
enum class consistency : uint8_t { linearizable, serializable };

/// One condition of a transaction: `target` of `key` compared with a number
/// (VERSION, CREATE, MOD, LEASE) or a value (VALUE). An absent key has
/// version, create and mod revision 0.
struct compare {
  enum class target : uint8_t { version, create, mod, value, lease };
  enum class op : uint8_t { equal, not_equal, greater, less };
  std::string key;
  target what = target::version;
  op result = op::equal;
  int64_t number = 0;
  std::string value;

  static compare version(std::string key, op o, int64_t n);
  static compare create_revision(std::string key, op o, int64_t n);
  static compare mod_revision(std::string key, op o, int64_t n);
  static compare lease(std::string key, op o, int64_t lease_id);
  static compare value_of(std::string key, op o, std::string value);
  /// Create-if-absent: the key's create revision is 0.
  static compare absent(std::string key);
};

/// One operation of a transaction branch.
struct request_op {
  enum class kind : uint8_t { put, erase, range };
  kind type = kind::range;
  std::string key;
  std::string value;
  int64_t lease = 0;
  bool prefix = false;

  static request_op put(std::string key, std::string value, int64_t lease = 0);
  static request_op erase(std::string key);
  static request_op erase_prefix(std::string prefix);
  static request_op range(std::string key);
  static request_op range_prefix(std::string prefix);
};

/// The result of one `request_op`, in the order of the executed branch.
struct response_op {
  request_op::kind type = request_op::kind::range;
  /// `range`: the keys read.
  range_result range;
  /// `erase`: how many keys went.
  int64_t deleted = 0;
};

/// If every compare holds, `success` runs, else `failure`; atomically.
struct txn_request {
  std::vector<compare> compares;
  std::vector<request_op> success;
  std::vector<request_op> failure;
};

struct txn_result {
  int64_t revision = 0;
  bool succeeded = false;
  std::vector<response_op> responses;
};

/// A lease: `ttl` in seconds (etcd may raise a requested TTL to its
/// minimum).
struct lease_grant {
  int64_t id = 0;
  int64_t ttl = 0;
};

/// A lease's remaining and granted TTL, in seconds.
struct lease_status {
  int64_t id = 0;
  int64_t ttl = 0;
  int64_t granted_ttl = 0;
};

/// PEM files for mutual TLS: the CA that signed etcd's certificate (the
/// cluster CA) and the client's certificate and key (both empty: none).
/// The server's chain is verified against `cafile`, its host name is not
/// (any certificate of the private cluster CA is trusted, as for BASP).
struct tls_files {
  std::string cafile;
  std::string certificate;
  std::string key;
};

struct client_config {
  /// `host:port` of etcd's client URLs (`[v6addr]:port` for IPv6).
  std::vector<std::string> endpoints;
  /// Longest time any call blocks (for all endpoints together).
  std::chrono::milliseconds deadline{1000};
  /// Set: https with mutual TLS; unset: plain http.
  std::optional<tls_files> tls;
};

/// The end of the range of keys starting with `prefix` (etcd's
/// `range_end`): the prefix with its last byte below 0xff incremented;
/// "\0" (every key) for an empty prefix or one of only 0xff bytes.
std::string prefix_end(const std::string& prefix);

class client {
public:
  /// Checks the endpoints and loads the TLS files;
  /// `etcd_errc::invalid_argument` if one is unusable. Sends nothing.
  static caf::expected<client> make(client_config cfg);

  /// The same client with another deadline per call.
  client with_deadline(std::chrono::milliseconds deadline) const;

  std::chrono::milliseconds deadline() const noexcept {
    return deadline_;
  }

  /// The endpoint the next call tries first (the one that last answered).
  std::string current_endpoint() const;

  /// Reads `key` (no kvs if absent).
  caf::expected<range_result>
  get(const std::string& key, consistency c = consistency::linearizable) const;

  /// Reads every key starting with `prefix`.
  caf::expected<range_result> get_prefix(const std::string& prefix,
                                         consistency c
                                         = consistency::linearizable) const;

  /// Writes `key`, attached to `lease` if not 0 (`lease_not_found` if the
  /// lease is gone).
  caf::expected<write_result> put(const std::string& key,
                                  const std::string& value,
                                  int64_t lease = 0) const;

  /// Deletes `key`; `deleted` is 0 if it was absent.
  caf::expected<write_result> erase(const std::string& key) const;

  /// Deletes every key starting with `prefix`.
  caf::expected<write_result> erase_prefix(const std::string& prefix) const;

  /// Runs a transaction. A failed compare is `succeeded == false`, not an
  /// error.
  caf::expected<txn_result> txn(const txn_request& req) const;

  /// Grants a lease of `ttl_seconds`.
  caf::expected<lease_grant> grant(int64_t ttl_seconds) const;

  /// Refreshes `lease` once; its TTL (seconds) from now on.
  /// `lease_not_found` if it expired or was revoked.
  caf::expected<int64_t> keep_alive(int64_t lease) const;

  /// Revokes `lease` and deletes its keys; `lease_not_found` if it was
  /// already gone.
  caf::error revoke(int64_t lease) const;

  /// The remaining TTL of `lease`; `lease_not_found` if it is gone.
  caf::expected<lease_status> time_to_live(int64_t lease) const;

  struct state;

  /// Shared internals (used by `watch`).
  const std::shared_ptr<state>& internals() const noexcept {
    return state_;
  }

private:
  client(std::shared_ptr<state> st, std::chrono::milliseconds deadline);

  std::shared_ptr<state> state_;
  std::chrono::milliseconds deadline_;
};

} // namespace annals::cluster::etcd
