// Atoms that tag messages between caf-raft actors (at most 10 characters, [A-Za-z0-9_] only).
#pragma once

#include <caf/atom.hpp>

namespace raft {

// persistence
using load_atom = caf::atom_constant<caf::atom("load")>;
using append_atom = caf::atom_constant<caf::atom("append")>;
using vote_atom = caf::atom_constant<caf::atom("vote")>;
using commit_atom = caf::atom_constant<caf::atom("commit")>;
using read_atom = caf::atom_constant<caf::atom("read")>;
using truncate_atom = caf::atom_constant<caf::atom("truncate")>;
using purge_atom = caf::atom_constant<caf::atom("purge")>;
using flush_atom = caf::atom_constant<caf::atom("flush")>;
using stats_atom = caf::atom_constant<caf::atom("stats")>;

// node / embedding API
using propose_atom = caf::atom_constant<caf::atom("propose")>;
using query_atom = caf::atom_constant<caf::atom("query")>;
using local_atom = caf::atom_constant<caf::atom("local")>;
using status_atom = caf::atom_constant<caf::atom("status")>;
using stop_atom = caf::atom_constant<caf::atom("stop")>;
using peer_atom = caf::atom_constant<caf::atom("peer")>;
using change_atom = caf::atom_constant<caf::atom("change")>;
using transfer_atom = caf::atom_constant<caf::atom("transfer")>;

} // namespace raft
