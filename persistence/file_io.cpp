// POSIX file helpers shared by the snapshot store and the segment log (see file_io.hpp).
#include "persistence/file_io.hpp"

#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>

#include "messages/errc.hpp"

namespace raft {

caf::error io_error(const std::string& path, const std::string& what, int err) {
  auto msg = fmt::format("{}: {}: {}", path, what, std::strerror(err));
  if (err == ENOSPC || err == EDQUOT)
    return make_error(errc::disk_full, msg);
  return make_error(errc::storage_io, msg);
}

caf::error sync_dir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return io_error(dir, "open directory", errno);
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  return rc == 0 ? caf::error{} : io_error(dir, "fsync directory", err);
}

} // namespace raft
