// annals -- event-sourced aggregates on the C++ Actor Framework.
// Part of the runtime module: atoms and CAF type registration.
#pragma once

#include "annals/command.hpp"
#include "annals/persistence/batch.hpp"
#include "annals/persistence/snapshot.hpp"

#include <caf/atom.hpp>
#include <caf/type_id.hpp>

namespace annals {

using append_atom = caf::atom_constant<caf::atom("a_append")>;
using snapshot_atom = caf::atom_constant<caf::atom("a_snap")>;
using passivate_atom = caf::atom_constant<caf::atom("a_passiv")>;
using stop_atom = caf::atom_constant<caf::atom("a_stop")>;
using idle_atom = caf::atom_constant<caf::atom("a_idle")>;
using acquire_atom = caf::atom_constant<caf::atom("a_acquire")>;
using release_atom = caf::atom_constant<caf::atom("a_release")>;
using flush_atom = caf::atom_constant<caf::atom("a_flush")>;
using wake_atom = caf::atom_constant<caf::atom("a_wake")>;
using sub_join_atom = caf::atom_constant<caf::atom("a_join")>;
using replay_atom = caf::atom_constant<caf::atom("a_replay")>;
using commit_atom = caf::atom_constant<caf::atom("a_commit")>;
using group_join_atom = caf::atom_constant<caf::atom("a_gjoin")>;
using assign_atom = caf::atom_constant<caf::atom("a_assign")>;
using revoke_atom = caf::atom_constant<caf::atom("a_revoke")>;
using watch_atom = caf::atom_constant<caf::atom("a_watch")>;
using import_atom = caf::atom_constant<caf::atom("a_import")>;
using handoff_atom = caf::atom_constant<caf::atom("a_handoff")>;
/// Replication: a partition's appends committed by the writer: its new end
/// and the highest epoch stamped on them (with `committed_atom`).
struct committed_end {
  partition_id partition = 0;
  position end = 0;
  uint64_t epoch = 0;
};

/// Replication: appends of these partitions committed (writer -> replicator,
/// `std::vector<committed_end>`).
using committed_atom = caf::atom_constant<caf::atom("a_commitd")>;
/// Replication: replies up to a high watermark may go (replicator -> writer,
/// `std::vector<committed_end>`: per partition the high watermark as `end`
/// and the epoch it was reached in).
using released_atom = caf::atom_constant<caf::atom("a_relhw")>;
/// Replication: installs the replicator in the writer.
using replicator_atom = caf::atom_constant<caf::atom("a_replictr")>;
/// Replication: a partition's leadership of an epoch ended (-> writer).
using lost_atom = caf::atom_constant<caf::atom("a_lost")>;
/// Replication: a partition's leader was appointed again at the next epoch
/// (-> writer, with the old and the new epoch): replies held for the old
/// one now wait for the new one's high watermark; appends stamped with the
/// old one are refused.
using carried_atom = caf::atom_constant<caf::atom("a_carried")>;
/// Replication: answer this `append_result` (a retried command found in the
/// journal) once the partition's high watermark at this epoch covers it
/// (aggregate -> writer, with the epoch; `outcome_unknown` if the
/// leadership ends first).
using replicated_atom = caf::atom_constant<caf::atom("a_repld")>;

} // namespace annals

// Messages between an aggregate and the journal writer never leave the
// process: they carry the journal's own types without serialisation.
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(annals::append_request)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(annals::append_result)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(annals::snapshot)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(annals::batch_result)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<annals::committed_end>)

// Types that may cross nodes. User ID blocks start at
// `caf::id_block::annals::end`.
CAF_BEGIN_TYPE_ID_BLOCK(annals, caf::first_custom_type_id)
CAF_ADD_TYPE_ID(annals, (annals::command_envelope))
CAF_ADD_TYPE_ID(annals, (annals::ack))
CAF_ADD_TYPE_ID(annals, (annals::routed_reply))
CAF_END_TYPE_ID_BLOCK(annals)
