// Segment files of the Raft log (format and contract in segment_log.hpp). The invariant that
// keeps recovery simple: in the last segment, every byte after the last record is zero.
#include "persistence/segment_log.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <filesystem>
#include <mutex>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include "messages/errc.hpp"
#include "persistence/crc32.hpp"
#include "persistence/file_io.hpp"
#include "persistence/rw_lock.hpp"

namespace raft {

namespace {

namespace fs = std::filesystem;

constexpr size_t header_bytes = 33;  // crc 4, payload length 4, index 8, term 8, kind 1, commit 8
constexpr size_t zero_chunk = size_t{1} << 20;
// A segment is written with zeros ahead of its records in steps of this many bytes (up to its
// limit): a flush then records a new file size once per step, not once per batch, and a full
// disk shows up while there is still a whole step to go.
constexpr uint64_t grow_step = uint64_t{1} << 20;

void put_le(char* p, uint64_t x, int n) {
  for (int i = 0; i < n; ++i)
    p[i] = static_cast<char>(x >> (8 * i));
}

uint64_t get_le(const char* p, int n) {
  uint64_t x = 0;
  for (int i = n; i-- > 0;)
    x = (x << 8) | static_cast<unsigned char>(p[i]);
  return x;
}

caf::error corrupt(const std::string& path, const std::string& what) {
  return make_error(errc::storage_corrupt, path + ": " + what);
}

std::string segment_name(uint64_t generation, index_t first) {
  return fmt::format("{:016x}-{:016x}.seg", generation, first);
}

// Parses `<generation>-<first>.seg`; false for any other name.
bool parse_name(const std::string& name, uint64_t& generation, index_t& first) {
  if (name.size() != 37 || name.compare(33, 4, ".seg") != 0 || name[16] != '-')
    return false;
  auto hex = [](const std::string& s, uint64_t& out) {
    out = 0;
    for (char c : s) {
      int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
      if (d < 0)
        return false;
      out = out * 16 + static_cast<uint64_t>(d);
    }
    return true;
  };
  return hex(name.substr(0, 16), generation) && hex(name.substr(17, 16), first);
}

caf::error write_all(int fd, const char* data, size_t size, uint64_t offset,
                     const std::string& path) {
  while (size > 0) {
    auto n = ::pwrite(fd, data, size, static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return io_error(path, "write", errno);
    }
    data += n;
    size -= static_cast<size_t>(n);
    offset += static_cast<uint64_t>(n);
  }
  return caf::none;
}

caf::error write_zeros(int fd, uint64_t from, uint64_t to, const std::string& path) {
  static const std::string zeros(zero_chunk, '\0');
  while (from < to) {
    auto n = static_cast<size_t>(std::min<uint64_t>(to - from, zeros.size()));
    if (auto err = write_all(fd, zeros.data(), n, from, path))
      return err;
    from += n;
  }
  return caf::none;
}

caf::error read_all(int fd, char* data, size_t size, uint64_t offset, const std::string& path) {
  while (size > 0) {
    auto n = ::pread(fd, data, size, static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return io_error(path, "read", errno);
    }
    if (n == 0)
      return corrupt(path, "unexpected end of file");
    data += n;
    size -= static_cast<size_t>(n);
    offset += static_cast<uint64_t>(n);
  }
  return caf::none;
}

caf::error sync_fd(int fd, const std::string& path) {
  if (::fdatasync(fd) != 0)
    return io_error(path, "fdatasync", errno);
  return caf::none;
}

struct segment {
  std::string path;
  int fd = -1;
  index_t first = 0;   // the index in its name: its first record's
  uint64_t limit = 0;  // it takes records up to this size
  uint64_t size = 0;   // bytes of the file (written with zeros ahead of the records)
  uint64_t end = 0;    // offset after its last record

  segment() = default;
  segment(const segment&) = delete;
  segment& operator=(const segment&) = delete;
  ~segment() {
    if (fd >= 0)
      ::close(fd);
  }
};

// Where one entry is: the index of the log is base.index + 1 + its position in `slots`.
struct slot {
  term_t term;
  uint64_t offset;  // of its record in the segment
  uint32_t seg;     // segment number (see impl::segs_first)
  uint32_t length;  // payload bytes
  entry_kind kind;
};

} // namespace

struct segment_log::impl {
  segment_log_options opts;
  mutable rw_lock mtx;  // readers shared; the writer while it changes slots or segs
  log_id base_id;
  std::deque<slot> slots;
  std::deque<std::unique_ptr<segment>> segs;  // segment number n is segs[n - segs_first]
  uint32_t segs_first = 0;
  index_t recovered_commit = 0;  // the largest commit index the records found at open carry

  index_t last_index() const { return base_id.index + slots.size(); }

  log_id last_id() const {
    return slots.empty() ? base_id : log_id{slots.back().term, last_index()};
  }

  const slot& at(index_t index) const { return slots[index - base_id.index - 1]; }

  segment& seg_of(const slot& s) const { return *segs[s.seg - segs_first]; }

  // Entry `index` read back from its segment (the caller holds the lock, shared).
  caf::error read_entry(index_t index, log_entry& e) const {
    const auto& s = at(index);
    e.index = index;
    e.term = s.term;
    e.kind = s.kind;
    std::string bytes(s.length, '\0');
    auto& seg = seg_of(s);
    if (auto err = read_all(seg.fd, bytes.data(), s.length, s.offset + header_bytes, seg.path))
      return err;
    e.payload = std::move(bytes);
    return caf::none;
  }

  std::string file(const std::string& name) const { return opts.dir + "/" + name; }

  // -- records --

  static void encode(const log_entry& e, index_t commit, std::string& out) {
    auto at = out.size();
    out.resize(at + header_bytes + e.payload.size());
    char* p = out.data() + at;
    put_le(p + 4, e.payload.size(), 4);
    put_le(p + 8, e.index, 8);
    put_le(p + 16, e.term, 8);
    p[24] = static_cast<char>(e.kind);
    put_le(p + 25, commit, 8);
    std::memcpy(p + header_bytes, e.payload.data(), e.payload.size());
    put_le(p, crc32(0, p + 4, header_bytes - 4 + e.payload.size()), 4);
  }

  // -- segments --

  // Makes a segment for records from `first` on, at least `min_size` bytes, written with
  // zeros and synced before it gets its name, so a crash never leaves a half-made segment.
  caf::expected<std::unique_ptr<segment>> make_segment(index_t first, uint64_t min_size) {
    auto s = std::make_unique<segment>();
    s->first = first;
    s->limit = std::max(opts.segment_bytes, min_size);
    s->size = std::min(s->limit, std::max(grow_step, min_size));
    s->path = file(segment_name(opts.generation, first));
    auto tmp = s->path + ".tmp";
    s->fd = ::open(tmp.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (s->fd < 0)
      return io_error(tmp, "open", errno);
    auto fail = [&](caf::error err) {
      ::unlink(tmp.c_str());
      return err;
    };
    if (auto err = write_zeros(s->fd, 0, s->size, tmp))
      return fail(std::move(err));
    if (opts.sync)
      if (auto err = sync_fd(s->fd, tmp))
        return fail(std::move(err));
    if (::rename(tmp.c_str(), s->path.c_str()) != 0)
      return fail(io_error(s->path, "rename", errno));
    if (opts.sync)
      if (auto err = sync_dir(opts.dir))
        return err;
    return s;
  }

  // Deletes the segments from number `from` on: last first, each durably, so that a crash
  // leaves a prefix of them. Readers must no longer refer to them.
  caf::error drop_segments_from(uint32_t from) {
    std::vector<std::unique_ptr<segment>> doomed;
    {
      std::unique_lock<rw_lock> guard{mtx};
      while (!segs.empty() && segs_first + segs.size() > from) {
        doomed.push_back(std::move(segs.back()));
        segs.pop_back();
      }
    }
    for (auto& s : doomed) {
      if (::unlink(s->path.c_str()) != 0 && errno != ENOENT)
        return io_error(s->path, "unlink", errno);
      if (opts.sync)
        if (auto err = sync_dir(opts.dir))
          return err;
    }
    return caf::none;
  }

  // -- recovery --

  // Scans `data`, the whole content of segment `s`, from offset 0, appending its records to
  // `slots`; `s.end` is where it stopped. `bad`: it stopped at a damaged or out-of-place record
  // rather than at zeros; `misplaced`: that record was intact but does not continue the log.
  // `first_seen`: the index of its first record (0 if it has none).
  void scan(const std::string& data, segment& s, uint32_t number, bool& bad, bool& misplaced,
            index_t& first_seen) {
    bad = false;
    misplaced = false;
    first_seen = 0;
    uint64_t off = 0;
    term_t prev_term = slots.empty() ? base_id.term : slots.back().term;
    index_t next_skipped = 0;  // while skipping records at or below the base
    while (off + header_bytes <= data.size()) {
      const char* head = data.data() + off;
      if (std::all_of(head, head + header_bytes, [](char c) { return c == 0; }))
        break;  // zeros: the end
      auto crc = static_cast<uint32_t>(get_le(head, 4));
      auto len = get_le(head + 4, 4);
      index_t index = get_le(head + 8, 8);
      term_t term = get_le(head + 16, 8);
      auto kind = static_cast<uint8_t>(head[24]);
      index_t commit = get_le(head + 25, 8);
      bad = true;
      if (off + header_bytes + len > data.size())
        break;
      if (crc32(0, head + 4, header_bytes - 4 + len) != crc
          || kind > static_cast<uint8_t>(entry_kind::config))
        break;
      if (off == 0)
        first_seen = index;
      misplaced = true;
      if (index <= base_id.index) {
        // Left by a purge that ended before deleting this segment: skip, but stay contiguous.
        if (next_skipped != 0 && index != next_skipped)
          break;
        next_skipped = index + 1;
      } else {
        if (index != last_index() + 1 || term < prev_term)
          break;
        slots.push_back({term, off, number, static_cast<uint32_t>(len),
                         static_cast<entry_kind>(kind)});
        prev_term = term;
        recovered_commit = std::max(recovered_commit, commit);
      }
      off += header_bytes + len;
      bad = false;
      misplaced = false;
    }
    s.end = off;
  }

  caf::error recover() {
    std::vector<std::pair<index_t, std::string>> mine;
    std::error_code ec;
    for (auto& de : fs::directory_iterator(opts.dir, ec)) {
      auto name = de.path().filename().string();
      uint64_t gen = 0;
      index_t first = 0;
      if (name.size() > 4 && name.compare(name.size() - 4, 4, ".tmp") == 0) {
        fs::remove(de.path(), ec);  // a segment that was never finished
        continue;
      }
      if (!parse_name(name, gen, first))
        continue;
      if (gen != opts.generation) {
        if (::unlink(de.path().c_str()) != 0 && errno != ENOENT)
          return io_error(de.path().string(), "unlink", errno);
        continue;
      }
      mine.emplace_back(first, de.path().string());
    }
    if (ec)
      return io_error(opts.dir, "reading the directory", ec.value());
    std::sort(mine.begin(), mine.end());
    for (size_t i = 0; i < mine.size(); ++i) {
      auto s = std::make_unique<segment>();
      s->path = mine[i].second;
      s->first = mine[i].first;
      s->fd = ::open(s->path.c_str(), O_RDWR | O_CLOEXEC);
      if (s->fd < 0)
        return io_error(s->path, "open", errno);
      struct stat st;
      if (::fstat(s->fd, &st) != 0)
        return io_error(s->path, "stat", errno);
      s->size = static_cast<uint64_t>(st.st_size);
      s->limit = std::max(opts.segment_bytes, s->size);
      bool last_one = i + 1 == mine.size();
      // A segment wholly at or below the base is what a purge left behind.
      if (!last_one && mine[i + 1].first <= base_id.index + 1) {
        s.reset();
        ::unlink(mine[i].second.c_str());
        continue;
      }
      if (s->first > last_index() + 1)
        return corrupt(s->path, fmt::format("log entries {} to {} are missing",
                                            last_index() + 1, s->first - 1));
      // One read per segment: a pread per record made a restart with a long log slow.
      std::string data(s->size, '\0');
      if (auto err = read_all(s->fd, data.data(), data.size(), 0, s->path))
        return err;
      auto number = static_cast<uint32_t>(segs_first + segs.size());
      bool bad = false;
      bool misplaced = false;
      index_t first_seen = 0;
      scan(data, *s, number, bad, misplaced, first_seen);
      // A torn write can only damage records; an intact record out of sequence is not ours.
      if (misplaced)
        return corrupt(s->path, fmt::format("record at offset {} does not continue the log "
                                            "after index {}",
                                            s->end, last_index()));
      if (first_seen != 0 && first_seen != s->first)
        return corrupt(s->path, fmt::format("its name says index {}, its first record is {}",
                                            s->first, first_seen));
      if (!last_one && bad)
        return corrupt(s->path, fmt::format("record at offset {} is damaged", s->end));
      if (last_one) {
        // Keep the invariant: nothing but zeros after the last record of the last segment.
        bool dirty = std::any_of(data.begin() + static_cast<std::ptrdiff_t>(s->end), data.end(),
                                 [](char c) { return c != 0; });
        if (dirty) {
          if (auto err = write_zeros(s->fd, s->end, s->size, s->path))
            return err;
          if (opts.sync)
            if (auto err = sync_fd(s->fd, s->path))
              return err;
        }
      }
      segs.push_back(std::move(s));
    }
    return caf::none;
  }
};

// -- open and move ---------------------------------------------------------------------------

segment_log::segment_log(std::unique_ptr<impl> ptr) : impl_(std::move(ptr)) {
  // nop
}

segment_log::segment_log(segment_log&&) noexcept = default;
segment_log& segment_log::operator=(segment_log&&) noexcept = default;
segment_log::~segment_log() = default;

caf::expected<segment_log> segment_log::open(const segment_log_options& opts, log_id base) {
  auto p = std::make_unique<impl>();
  p->opts = opts;
  p->base_id = base;
  std::error_code ec;
  if (fs::create_directories(opts.dir, ec) && opts.sync) {
    // A new directory must itself survive a crash before segments in it can.
    auto parent = fs::path(opts.dir).parent_path().string();
    if (auto err = sync_dir(parent.empty() ? "." : parent))
      return err;
  }
  if (ec)
    return io_error(opts.dir, "creating the directory", ec.value());
  if (auto err = p->recover())
    return err;
  return segment_log{std::move(p)};
}

// -- writer ----------------------------------------------------------------------------------

caf::error segment_log::write(index_t cut_from, const log_entries& xs, index_t commit) {
  auto& d = *impl_;
  // Validate everything first: a refused write changes nothing.
  if (cut_from != 0 && cut_from <= d.base_id.index)
    return make_error(errc::invalid_argument, "segment log: cut at or below the base",
                      cut_from, d.base_id.index);
  bool cutting = cut_from != 0 && cut_from <= d.last_index();
  log_id prev = cutting ? (cut_from - 1 == d.base_id.index
                             ? d.base_id
                             : log_id{d.at(cut_from - 1).term, cut_from - 1})
                        : d.last_id();
  for (size_t i = 0; i < xs.size(); ++i) {
    auto& x = xs[i];
    auto want = prev.index + 1 + i;
    if (x.index != want)
      return make_error(errc::invalid_argument, "segment log: entries do not continue the log",
                        want, x.index);
    auto before = i == 0 ? prev.term : xs[i - 1].term;
    if (x.term < before)
      return make_error(errc::invalid_argument, "segment log: terms decrease", x.index);
    if (static_cast<uint8_t>(x.kind) > static_cast<uint8_t>(entry_kind::config))
      return make_error(errc::invalid_argument, "segment log: unknown entry kind", x.index);
    if (x.payload.size() > UINT32_MAX - header_bytes)
      return make_error(errc::invalid_argument, "segment log: entry too large", x.index);
  }
  if (cutting) {
    // Made durable on its own: new records must never be followed by stale ones on disk.
    const auto& first_cut = d.at(cut_from);
    auto number = first_cut.seg;
    auto offset = first_cut.offset;
    {
      std::unique_lock<rw_lock> guard{d.mtx};
      d.slots.resize(cut_from - d.base_id.index - 1);
    }
    if (auto err = d.drop_segments_from(number + 1))
      return err;
    auto& s = *d.segs.back();
    if (auto err = write_zeros(s.fd, offset, s.end, s.path))
      return err;
    if (d.opts.sync)
      if (auto err = sync_fd(s.fd, s.path))
        return err;
    s.end = offset;
  }
  if (xs.empty())
    return caf::none;
  // Encode, then write segment by segment; the index learns the new slots after each sync.
  std::string buf;
  std::vector<std::pair<size_t, size_t>> spans;  // record offsets in buf: begin, end
  size_t total = 0;
  for (auto& x : xs)
    total += header_bytes + x.payload.size();
  buf.reserve(total);  // grown record by record, the buffer would be copied over and again
  spans.reserve(xs.size());
  for (auto& x : xs) {
    auto begin = buf.size();
    impl::encode(x, commit, buf);
    spans.emplace_back(begin, buf.size());
  }
  size_t i = 0;
  while (i < xs.size()) {
    auto record = spans[i].second - spans[i].first;
    bool need_new = d.segs.empty() || d.segs.back()->end + record > d.segs.back()->limit;
    if (need_new && !d.segs.empty() && d.segs.back()->end == 0) {
      // An empty segment too small for this record: the new one takes its name.
      if (auto err = d.drop_segments_from(static_cast<uint32_t>(d.segs_first + d.segs.size() - 1)))
        return err;
    }
    if (need_new) {
      // The rest of a full segment stays zero; its next record is in the next segment.
      auto s = d.make_segment(xs[i].index, record + header_bytes);
      if (!s)
        return s.error();
      std::unique_lock<rw_lock> guard{d.mtx};
      d.segs.push_back(std::move(*s));
    }
    auto& s = *d.segs.back();
    auto number = static_cast<uint32_t>(d.segs_first + d.segs.size() - 1);
    size_t j = i;
    uint64_t end = s.end;
    std::vector<slot> fresh;
    fresh.reserve(xs.size() - i);
    while (j < xs.size() && end + (spans[j].second - spans[j].first) <= s.limit) {
      fresh.push_back({xs[j].term, end, number, static_cast<uint32_t>(xs[j].payload.size()),
                       xs[j].kind});
      end += spans[j].second - spans[j].first;
      ++j;
    }
    if (end > s.size) {
      // Zeros ahead first; on a full disk this fails before any record is written.
      auto next = std::min(s.limit, (end + grow_step - 1) / grow_step * grow_step);
      if (auto err = write_zeros(s.fd, s.size, next, s.path))
        return err;
      s.size = next;
    }
    if (auto err = write_all(s.fd, buf.data() + spans[i].first,
                             spans[j - 1].second - spans[i].first, s.end, s.path))
      return err;
    if (d.opts.sync)
      if (auto err = sync_fd(s.fd, s.path))
        return err;
    {
      std::unique_lock<rw_lock> guard{d.mtx};
      s.end = end;
      d.slots.insert(d.slots.end(), fresh.begin(), fresh.end());
    }
    i = j;
  }
  return caf::none;
}

caf::error segment_log::purge(index_t upto) {
  auto& d = *impl_;
  if (upto <= d.base_id.index)
    return caf::none;
  if (upto > d.last_index())
    return make_error(errc::invalid_argument, "segment log: purge beyond the last entry", upto,
                      d.last_index());
  std::vector<std::unique_ptr<segment>> doomed;
  {
    std::unique_lock<rw_lock> guard{d.mtx};
    // Segments before the one holding upto + 1 hold only forgotten entries; if the log is
    // forgotten to its end, the last segment stays for the next appends.
    auto keep_from = upto < d.last_index()
                       ? d.at(upto + 1).seg
                       : static_cast<uint32_t>(d.segs_first + d.segs.size() - 1);
    auto new_base = log_id{d.at(upto).term, upto};
    d.slots.erase(d.slots.begin(),
                  d.slots.begin() + static_cast<std::ptrdiff_t>(upto - d.base_id.index));
    d.base_id = new_base;
    while (!d.segs.empty() && d.segs_first < keep_from) {
      doomed.push_back(std::move(d.segs.front()));
      d.segs.pop_front();
      ++d.segs_first;
    }
  }
  // No directory sync: the caller recorded the new base durably, and a reopen skips (and
  // deletes) segments below it.
  for (auto& s : doomed)
    if (::unlink(s->path.c_str()) != 0 && errno != ENOENT)
      return io_error(s->path, "unlink", errno);
  return caf::none;
}

caf::error segment_log::reset(uint64_t generation, log_id base) {
  auto& d = *impl_;
  {
    std::unique_lock<rw_lock> guard{d.mtx};
    d.slots.clear();
    d.base_id = base;
  }
  if (auto err = d.drop_segments_from(d.segs_first))
    return err;
  std::unique_lock<rw_lock> guard{d.mtx};
  d.opts.generation = generation;
  d.segs_first = 0;
  return caf::none;
}

// -- reads -----------------------------------------------------------------------------------

log_id segment_log::base() const {
  std::shared_lock<rw_lock> guard{impl_->mtx};
  return impl_->base_id;
}

log_id segment_log::last() const {
  std::shared_lock<rw_lock> guard{impl_->mtx};
  return impl_->last_id();
}

index_t segment_log::recovered_commit() const {
  return impl_->recovered_commit;
}

uint64_t segment_log::generation() const {
  std::shared_lock<rw_lock> guard{impl_->mtx};
  return impl_->opts.generation;
}

caf::expected<log_entries> segment_log::entries(index_t start, index_t stop,
                                                uint64_t max_bytes) const {
  auto& d = *impl_;
  std::shared_lock<rw_lock> guard{d.mtx};
  if (start <= d.base_id.index)
    return make_error(errc::snapshot_needed, "segment log: entries purged", start,
                      d.base_id.index);
  log_entries out;
  uint64_t bytes = 0;
  stop = std::min(stop, d.last_index() + 1);
  for (index_t i = start; i < stop; ++i) {
    if (!out.empty() && bytes + d.at(i).length + 24 > max_bytes)
      break;
    log_entry e;
    if (auto err = d.read_entry(i, e))
      return err;
    bytes += entry_bytes(e);
    out.push_back(std::move(e));
  }
  return out;
}

caf::expected<term_t> segment_log::term_at(index_t index) const {
  auto& d = *impl_;
  std::shared_lock<rw_lock> guard{d.mtx};
  if (index == d.base_id.index)
    return d.base_id.term;
  if (index < d.base_id.index)
    return make_error(errc::snapshot_needed, "segment log: entry purged", index);
  if (index > d.last_index())
    return make_error(errc::invalid_argument, "segment log: beyond the last entry", index);
  return d.at(index).term;
}

caf::expected<log_entries> segment_log::entries_of_kind(entry_kind kind) const {
  auto& d = *impl_;
  log_entries out;
  std::shared_lock<rw_lock> guard{d.mtx};
  for (index_t i = d.base_id.index + 1; i <= d.last_index(); ++i) {
    if (d.at(i).kind != kind)
      continue;
    log_entry e;
    if (auto err = d.read_entry(i, e))
      return err;
    out.push_back(std::move(e));
  }
  return out;
}

} // namespace raft
