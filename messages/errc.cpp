// Names for the raft error codes, used when CAF renders an error of category "raft".
#include "messages/errc.hpp"

namespace raft {

std::string to_string(errc x) {
  switch (x) {
    case errc::none: return "none";
    case errc::not_leader: return "not_leader";
    case errc::timeout: return "timeout";
    case errc::shutting_down: return "shutting_down";
    case errc::entry_too_large: return "entry_too_large";
    case errc::storage_io: return "storage_io";
    case errc::storage_corrupt: return "storage_corrupt";
    case errc::foreign_data_dir: return "foreign_data_dir";
    case errc::disk_full: return "disk_full";
    case errc::invalid_argument: return "invalid_argument";
    case errc::log_conflict: return "log_conflict";
    case errc::unavailable: return "unavailable";
    case errc::config_change: return "config_change";
    case errc::snapshot_needed: return "snapshot_needed";
    case errc::transfer_in_progress: return "transfer_in_progress";
    case errc::busy: return "busy";
  }
  return "unknown";
}

} // namespace raft
