// The snapshot files of one node (<data dir>/snapshots). A file appears under its final name only
// complete and synced (temporary file, fsync, rename, directory fsync), and is checked against
// the size and CRC-32 recorded in its metadata before anything reads it as a whole.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <memory>
#include <string>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "messages/snapshot_meta.hpp"

namespace raft {

class snapshot_store {
public:
  /// Uses (and creates) `<data_dir>/snapshots`; removes temporary files a crash left behind.
  static caf::expected<snapshot_store> open(const std::string& data_dir);

  /// A handle to an existing directory, for actors that share the store (no cleanup).
  explicit snapshot_store(std::string dir) : dir_(std::move(dir)) {}
  snapshot_store() = default;

  const std::string& dir() const { return dir_; }
  std::string path_of(log_id last) const;

  /// Writes a new snapshot through a stream; size and checksum are computed on the way.
  class writer {
  public:
    virtual ~writer() = default;  // an uncommitted temporary file is removed
    virtual std::ostream& stream() = 0;
    /// Makes the file durable under its final name and returns its complete metadata.
    virtual caf::expected<snapshot_meta> commit(log_id last, const membership& config) = 0;
  };
  caf::expected<std::unique_ptr<writer>> create() const;

  /// Receives a streamed snapshot chunk by chunk, in order, into a temporary file.
  class receiver {
  public:
    virtual ~receiver() = default;  // an uncommitted temporary file is removed
    virtual const snapshot_meta& meta() const = 0;
    virtual uint64_t received() const = 0;
    virtual caf::error append(const std::string& data) = 0;
    /// Checks size and checksum, then makes the file durable under its final name.
    virtual caf::error commit() = 0;
  };
  caf::expected<std::unique_ptr<receiver>> receive(const snapshot_meta& meta) const;

  /// Random-access reads of a committed snapshot. The open file stays readable even if a newer
  /// snapshot replaces it meanwhile.
  class reader {
  public:
    virtual ~reader() = default;
    virtual const snapshot_meta& meta() const = 0;
    /// Up to `max` bytes from `offset` (fewer only at the end).
    virtual caf::expected<std::string> read(uint64_t offset, size_t max) const = 0;
  };
  caf::expected<std::shared_ptr<reader>> open_reader(const snapshot_meta& meta) const;

  /// storage_corrupt unless the file exists with the recorded size and checksum.
  caf::error verify(const snapshot_meta& meta) const;

  /// The content as a stream, for state_machine::restore (verify() it first).
  caf::expected<std::unique_ptr<std::istream>> open_stream(const snapshot_meta& meta) const;

  /// Deletes every snapshot file except the one of `keep` (at start-up: orphans of a crash).
  void remove_except(log_id keep) const;

  /// Deletes snapshot files older than `index`; newer ones may be waiting to be recorded.
  void remove_below(index_t index) const;

private:
  std::string dir_;
};

} // namespace raft
