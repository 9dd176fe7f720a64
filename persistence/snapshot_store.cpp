// Snapshot files: POSIX I/O so every step that must be durable (file data, rename) is synced.
#include "persistence/snapshot_store.hpp"

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <istream>
#include <ostream>
#include <streambuf>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include "messages/errc.hpp"
#include "persistence/crc32.hpp"
#include "persistence/file_io.hpp"

namespace raft {

namespace fs = std::filesystem;

namespace {

constexpr const char* snap_suffix = ".snap";
constexpr const char* tmp_suffix = ".tmp";

std::string temp_path(const std::string& dir) {
  static std::atomic<uint64_t> counter{0};
  return fmt::format("{}/{}-{}{}", dir, ::getpid(), ++counter, tmp_suffix);
}

caf::error write_all(int fd, const std::string& path, const char* p, size_t n) {
  while (n > 0) {
    auto w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR)
        continue;
      return io_error(path, "write", errno);
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
  return caf::none;
}

// Syncs `tmp`, renames it to `final_path` and syncs the directory: after a crash, the final name
// either does not exist or names the complete file.
caf::error publish(int fd, const std::string& tmp, const std::string& final_path,
                   const std::string& dir) {
  if (::fsync(fd) != 0)
    return io_error(tmp, "fsync", errno);
  if (::rename(tmp.c_str(), final_path.c_str()) != 0)
    return io_error(final_path, "rename", errno);
  return sync_dir(dir);
}

// A stream buffer over a file descriptor that tracks the bytes written and their CRC-32.
class checksum_filebuf : public std::streambuf {
public:
  checksum_filebuf(int fd, std::string path) : fd_(fd), path_(std::move(path)), buf_(1 << 20) {
    setp(buf_.data(), buf_.data() + buf_.size());
  }

  uint64_t size() const { return size_; }
  uint32_t checksum() const { return crc_; }
  const caf::error& error() const { return err_; }

  bool drain() {
    auto n = static_cast<size_t>(pptr() - pbase());
    if (n > 0 && !err_) {
      crc_ = crc32(crc_, pbase(), n);
      size_ += n;
      err_ = write_all(fd_, path_, pbase(), n);
    }
    setp(buf_.data(), buf_.data() + buf_.size());
    return !err_;
  }

protected:
  int_type overflow(int_type ch) override {
    if (!drain())
      return traits_type::eof();
    if (!traits_type::eq_int_type(ch, traits_type::eof())) {
      *pptr() = traits_type::to_char_type(ch);
      pbump(1);
    }
    return traits_type::not_eof(ch);
  }

  int sync() override { return drain() ? 0 : -1; }

private:
  int fd_;
  std::string path_;
  std::vector<char> buf_;
  uint64_t size_ = 0;
  uint32_t crc_ = 0;
  caf::error err_;
};

class file_writer : public snapshot_store::writer {
public:
  file_writer(const snapshot_store& store, int fd, std::string tmp)
    : store_(store), fd_(fd), tmp_(std::move(tmp)), buf_(fd, tmp_), out_(&buf_) {}

  ~file_writer() override {
    ::close(fd_);
    if (!committed_)
      ::unlink(tmp_.c_str());
  }

  std::ostream& stream() override { return out_; }

  caf::expected<snapshot_meta> commit(log_id last, const membership& config) override {
    out_.flush();
    buf_.drain();
    if (buf_.error())
      return buf_.error();
    if (!out_)
      return make_error(errc::storage_io, tmp_ + ": the state machine's snapshot stream failed");
    snapshot_meta meta;
    meta.last = last;
    meta.config = config;
    meta.size = buf_.size();
    meta.checksum = buf_.checksum();
    if (auto err = publish(fd_, tmp_, store_.path_of(last), store_.dir()))
      return err;
    committed_ = true;
    return meta;
  }

private:
  snapshot_store store_;
  int fd_;
  std::string tmp_;
  checksum_filebuf buf_;
  std::ostream out_;
  bool committed_ = false;
};

class file_receiver : public snapshot_store::receiver {
public:
  file_receiver(const snapshot_store& store, snapshot_meta meta, int fd, std::string tmp)
    : store_(store), meta_(std::move(meta)), fd_(fd), tmp_(std::move(tmp)) {}

  ~file_receiver() override {
    ::close(fd_);
    if (!committed_)
      ::unlink(tmp_.c_str());
  }

  const snapshot_meta& meta() const override { return meta_; }
  uint64_t received() const override { return received_; }

  caf::error append(const std::string& data) override {
    if (received_ + data.size() > meta_.size)
      return make_error(errc::invalid_argument, "snapshot chunk beyond the announced size");
    if (auto err = write_all(fd_, tmp_, data.data(), data.size()))
      return err;
    crc_ = crc32(crc_, data.data(), data.size());
    received_ += data.size();
    return caf::none;
  }

  caf::error commit() override {
    if (received_ != meta_.size || crc_ != meta_.checksum)
      return make_error(errc::storage_corrupt,
                        fmt::format("received snapshot {}/{}: {} of {} bytes, checksum {:08x}, "
                                    "expected {:08x}",
                                    meta_.last.index, meta_.last.term, received_, meta_.size,
                                    crc_, meta_.checksum));
    if (auto err = publish(fd_, tmp_, store_.path_of(meta_.last), store_.dir()))
      return err;
    committed_ = true;
    return caf::none;
  }

private:
  snapshot_store store_;
  snapshot_meta meta_;
  int fd_;
  std::string tmp_;
  uint64_t received_ = 0;
  uint32_t crc_ = 0;
  bool committed_ = false;
};

class file_reader : public snapshot_store::reader {
public:
  file_reader(snapshot_meta meta, int fd, std::string path)
    : meta_(std::move(meta)), fd_(fd), path_(std::move(path)) {}

  ~file_reader() override { ::close(fd_); }

  const snapshot_meta& meta() const override { return meta_; }

  caf::expected<std::string> read(uint64_t offset, size_t max) const override {
    std::string out;
    if (offset >= meta_.size)
      return out;
    out.resize(static_cast<size_t>(std::min<uint64_t>(max, meta_.size - offset)));
    size_t got = 0;
    while (got < out.size()) {
      auto r = ::pread(fd_, out.data() + got, out.size() - got,
                       static_cast<off_t>(offset + got));
      if (r < 0) {
        if (errno == EINTR)
          continue;
        return io_error(path_, "read", errno);
      }
      if (r == 0)
        return make_error(errc::storage_corrupt, path_ + ": shorter than its recorded size");
      got += static_cast<size_t>(r);
    }
    return out;
  }

private:
  snapshot_meta meta_;
  int fd_;
  std::string path_;
};

} // namespace

caf::expected<snapshot_store> snapshot_store::open(const std::string& data_dir) {
  snapshot_store s{data_dir + "/snapshots"};
  std::error_code ec;
  fs::create_directories(s.dir_, ec);
  if (ec)
    return make_error(errc::storage_io, s.dir_ + ": " + ec.message());
  for (auto& e : fs::directory_iterator(s.dir_, ec))
    if (e.path().extension() == tmp_suffix)
      fs::remove(e.path(), ec);
  if (ec)
    return make_error(errc::storage_io, s.dir_ + ": " + ec.message());
  return s;
}

std::string snapshot_store::path_of(log_id last) const {
  return fmt::format("{}/{:020}-{:020}{}", dir_, last.index, last.term, snap_suffix);
}

caf::expected<std::unique_ptr<snapshot_store::writer>> snapshot_store::create() const {
  auto tmp = temp_path(dir_);
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return io_error(tmp, "create", errno);
  return std::unique_ptr<writer>{new file_writer(*this, fd, std::move(tmp))};
}

caf::expected<std::unique_ptr<snapshot_store::receiver>>
snapshot_store::receive(const snapshot_meta& meta) const {
  auto tmp = temp_path(dir_);
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return io_error(tmp, "create", errno);
  return std::unique_ptr<receiver>{new file_receiver(*this, meta, fd, std::move(tmp))};
}

caf::expected<std::shared_ptr<snapshot_store::reader>>
snapshot_store::open_reader(const snapshot_meta& meta) const {
  auto path = path_of(meta.last);
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return errno == ENOENT ? make_error(errc::storage_corrupt, path + ": snapshot file missing")
                           : io_error(path, "open", errno);
  return std::shared_ptr<reader>{new file_reader(meta, fd, std::move(path))};
}

caf::error snapshot_store::verify(const snapshot_meta& meta) const {
  auto r = open_reader(meta);
  if (!r)
    return std::move(r.error());
  struct stat sb;
  auto path = path_of(meta.last);
  if (::stat(path.c_str(), &sb) != 0)
    return io_error(path, "stat", errno);
  if (static_cast<uint64_t>(sb.st_size) != meta.size)
    return make_error(errc::storage_corrupt,
                      fmt::format("{}: {} bytes, expected {}", path, sb.st_size, meta.size));
  uint32_t crc = 0;
  constexpr size_t chunk = 1 << 20;
  for (uint64_t off = 0; off < meta.size; off += chunk) {
    auto data = (*r)->read(off, chunk);
    if (!data)
      return std::move(data.error());
    crc = crc32(crc, data->data(), data->size());
  }
  if (crc != meta.checksum)
    return make_error(errc::storage_corrupt,
                      fmt::format("{}: checksum {:08x}, expected {:08x}", path, crc,
                                  meta.checksum));
  return caf::none;
}

caf::expected<std::unique_ptr<std::istream>>
snapshot_store::open_stream(const snapshot_meta& meta) const {
  auto path = path_of(meta.last);
  auto in = std::make_unique<std::ifstream>(path, std::ios::binary);
  if (!*in)
    return make_error(errc::storage_corrupt, path + ": cannot open the snapshot file");
  return std::unique_ptr<std::istream>{std::move(in)};
}

void snapshot_store::remove_except(log_id keep) const {
  std::error_code ec;
  auto keep_name = fs::path(path_of(keep)).filename();
  for (auto& e : fs::directory_iterator(dir_, ec))
    if (e.path().extension() == snap_suffix && e.path().filename() != keep_name)
      fs::remove(e.path(), ec);
}

void snapshot_store::remove_below(index_t index) const {
  std::error_code ec;
  for (auto& e : fs::directory_iterator(dir_, ec)) {
    if (e.path().extension() != snap_suffix)
      continue;
    // Names start with the zero-padded last index; anything unparsable is not ours to delete.
    auto name = e.path().filename().string();
    char* end = nullptr;
    auto idx = std::strtoull(name.c_str(), &end, 10);
    if (end != name.c_str() && *end == '-' && idx < index)
      fs::remove(e.path(), ec);
  }
}

} // namespace raft
