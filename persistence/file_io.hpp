// POSIX file helpers shared by the snapshot files and the log's segment files: errors as values
// in our category (a full disk as disk_full), and the directory sync that makes a name durable.
#pragma once

#include <string>

#include <caf/error.hpp>

namespace raft {

/// `path: what: strerror(err)` as disk_full (ENOSPC, EDQUOT) or storage_io.
caf::error io_error(const std::string& path, const std::string& what, int err);

/// fsync of directory `dir`, so that names created, renamed or removed in it survive a crash.
caf::error sync_dir(const std::string& dir);

} // namespace raft
