// annals -- event-sourced aggregates on the C++ Actor Framework.
// Part of the cluster module (internal): the control plane's etcd keys.
//
// Under `/annals/<cluster>/`: `members/<name>` (a node's registration, on
// its lease), `controller` (the elected controller's name, on its lease),
// `map` (the partition map, written only by the controller's CAS).
// Threads: a value type.
#pragma once

#include <string>

namespace annals::cluster::control {

struct cluster_keys {
  /// `/annals/<cluster>/`.
  std::string prefix;

  explicit cluster_keys(const std::string& cluster)
    : prefix("/annals/" + cluster + "/") {
  }

  std::string members_prefix() const {
    return prefix + "members/";
  }

  std::string member(const std::string& name) const {
    return members_prefix() + name;
  }

  std::string controller() const {
    return prefix + "controller";
  }

  std::string map() const {
    return prefix + "map";
  }

  /// `caught_up/<partition>/<node>` = the learner's incarnation: a leader
  /// that is not the controller reports a caught-up learner here (on its
  /// own lease); the controller promotes it and deletes the key.
  std::string caught_up_prefix() const {
    return prefix + "caught_up/";
  }

  std::string caught_up(uint32_t partition, const std::string& node) const {
    return caught_up_prefix() + std::to_string(partition) + "/" + node;
  }

  /// `reappoint/<partition>/<node>` = the epoch: a leader that is not the
  /// controller reports that it cannot lead the epoch it was appointed for
  /// (it restarted after fencing it); the controller appoints it again and
  /// deletes the key.
  std::string reappoint_prefix() const {
    return prefix + "reappoint/";
  }

  std::string reappoint(uint32_t partition, const std::string& node) const {
    return reappoint_prefix() + std::to_string(partition) + "/" + node;
  }

  /// `settled/<partition>/<node>` = the epoch: a leader that is not the
  /// controller reports that its epoch's voters settled; the controller
  /// marks the partition settled and deletes the key.
  std::string settled_prefix() const {
    return prefix + "settled/";
  }

  std::string settled(uint32_t partition, const std::string& node) const {
    return settled_prefix() + std::to_string(partition) + "/" + node;
  }
};

} // namespace annals::cluster::control
