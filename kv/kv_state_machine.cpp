// KV semantics, plus snapshots: a copy-on-write view taken on the apply actor, sorted and streamed
// out in a length-prefixed format by the snapshot writer; restore reads that format back.
#include "kv/kv_state_machine.hpp"

#include <algorithm>
#include <cstdint>
#include <istream>
#include <ostream>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "messages/codec.hpp"

namespace raft {

namespace {

kv_result read_only(const kv_table& data, const kv_command& cmd) {
  kv_result r;
  r.ok = true;
  auto value = data.find(cmd.key);
  r.found = value.has_value();
  if (r.found)
    r.value = *value;
  return r;
}

struct key_value {
  uint64_t prefix_hi;  // key bytes 0-7, big-endian, zero-padded
  uint64_t prefix_lo;  // key bytes 8-15
  std::string_view key;
  std::string_view value;
};

// Zero padding keeps the order: where two padded prefixes differ, the keys differ the same way.
uint64_t prefix(std::string_view k, size_t from) {
  uint64_t x = 0;
  for (size_t i = from; i < from + 8; ++i)
    x = (x << 8) | (i < k.size() ? static_cast<unsigned char>(k[i]) : 0u);
  return x;
}

/// The entries of a kv_table or a frozen view in key order (unsigned bytes), which digests and
/// snapshots follow so that they do not depend on the table's layout. The 16-byte prefixes
/// order most keys without reaching into the entries, which lie at random in memory.
template <class Content>
std::vector<key_value> in_key_order(const Content& content) {
  std::vector<key_value> out;
  out.reserve(content.size());
  content.for_each([&out](std::string_view k, std::string_view v) {
    out.push_back({prefix(k, 0), prefix(k, 8), k, v});
  });
  std::sort(out.begin(), out.end(), [](const key_value& a, const key_value& b) {
    if (a.prefix_hi != b.prefix_hi)
      return a.prefix_hi < b.prefix_hi;
    if (a.prefix_lo != b.prefix_lo)
      return a.prefix_lo < b.prefix_lo;
    return a.key < b.key;
  });
  return out;
}

bool get_u32(std::istream& in, uint32_t& x) {
  unsigned char b[4];
  if (!in.read(reinterpret_cast<char*>(b), 4))
    return false;
  x = (uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) | (uint32_t{b[2]} << 8) | b[3];
  return true;
}

} // namespace

kv_result kv_state_machine::execute(const kv_command& cmd) {
  kv_result r;
  switch (cmd.op) {
    case kv_op::put:
      data_.put(cmd.key, cmd.value);
      r.ok = true;
      break;
    case kv_op::get:
      return read_only(data_, cmd);
    case kv_op::cas: {
      auto current = data_.find(cmd.key);
      r.found = current.has_value();
      bool matches = cmd.expect_absent ? !r.found : (r.found && *current == cmd.expected);
      if (matches) {
        data_.put(cmd.key, cmd.value);
        r.ok = true;
      } else if (r.found) {
        r.value = *current;
      }
      break;
    }
    case kv_op::del:
      r.found = data_.erase(cmd.key);
      r.ok = true;
      break;
    case kv_op::digest:
      r.ok = true;
      r.value = digest();
      break;
    case kv_op::size:
      r.ok = true;
      r.value = std::to_string(data_.size());
      break;
  }
  return r;
}

namespace {

// A malformed command is still a committed entry: it must apply identically everywhere.
std::string bad_request() {
  kv_result r;
  r.value = "bad_request";
  return encode(r);
}

// Commands decoded and prefetched ahead of the one applied: enough to overlap the misses, few
// enough that the prefetched lines are still in the cache when their turn comes.
constexpr size_t group_size = 32;

// A group's commands keep their strings' buffers for the next group, unless a buffer is larger
// than this: a few huge values must not stay allocated 32 times over.
constexpr size_t kept_buffer = 4 << 10;

void trim(kv_command& cmd) {
  for (auto* s : {&cmd.key, &cmd.value, &cmd.expected})
    if (s->capacity() > kept_buffer)
      std::string{}.swap(*s);
}

} // namespace

std::string kv_state_machine::apply_decoded(const kv_command& cmd, uint64_t hash) {
  if (cmd.op == kv_op::put) {
    // The most common command has a constant result: encode it once.
    static const std::string ok = encode(kv_result{true, false, {}});
    data_.put(cmd.key, hash, cmd.value);
    return ok;
  }
  return encode(execute(cmd));
}

std::string kv_state_machine::apply(index_t, const std::string& command) {
  if (!decode_into(command, scratch_))
    return bad_request();
  return apply_decoded(scratch_, kv_table::hash_of(scratch_.key));
}

void kv_state_machine::apply_batch(index_t, const std::vector<const std::string*>& commands,
                                   std::vector<std::string>& results) {
  group_.resize(group_size);  // once: shrinking it would drop the buffers it keeps
  for (size_t from = 0; from < commands.size(); from += group_size) {
    size_t n = std::min(group_size, commands.size() - from);
    // Three passes over the group: each load issued by one pass has arrived by the next.
    // Decoding into the group's commands reuses their strings' buffers, and the table
    // overwrites a value in place: a put allocates nothing unless it adds a key.
    for (size_t i = 0; i < n; ++i) {
      auto& d = group_[i];
      d.ok = decode_into(*commands[from + i], d.cmd);
      if (d.ok) {
        d.hash = kv_table::hash_of(d.cmd.key);
        data_.prefetch_slot(d.hash);
      }
    }
    for (size_t i = 0; i < n; ++i)
      if (group_[i].ok)
        data_.prefetch_entry(group_[i].hash);
    for (size_t i = 0; i < n; ++i) {
      auto& d = group_[i];
      results.push_back(d.ok ? apply_decoded(d.cmd, d.hash) : bad_request());
      trim(d.cmd);
    }
  }
}

std::string kv_state_machine::query(const std::string& request) const {
  auto cmd = decode<kv_command>(request);
  kv_result r;
  if (!cmd) {
    r.value = "bad_request";
    return encode(r);
  }
  switch (cmd->op) {
    case kv_op::digest:
      r.ok = true;
      r.value = digest();
      return encode(r);
    case kv_op::size:
      r.ok = true;
      r.value = std::to_string(data_.size());
      return encode(r);
    default:
      return encode(read_only(data_, *cmd));
  }
}

std::string kv_state_machine::digest() const {
  // FNV-1a over the content in key order.
  auto sorted = in_key_order(data_);
  uint64_t h = 1469598103934665603ull;
  auto mix = [&h](std::string_view s) {
    for (unsigned char c : s) {
      h ^= c;
      h *= 1099511628211ull;
    }
    h ^= 0xff;
    h *= 1099511628211ull;
  };
  for (const auto& e : sorted) {
    mix(e.key);
    mix(e.value);
  }
  return fmt::format("{:016x}", h);
}

namespace {

// The content as of one applied index: a frozen view of the table, a pointer per entry taken on
// the apply actor. The writer thread sorts it: keys in sorted order make replicas with equal
// content write byte-identical snapshots.
class kv_snapshot : public state_snapshot {
public:
  explicit kv_snapshot(const kv_table& data) : view_(data.freeze()) {
  }

  bool write(std::ostream& out) override {
    auto records = in_key_order(view_);
    std::string chunk;
    auto put_u32 = [&chunk](uint32_t x) {
      char b[4] = {char(x >> 24), char(x >> 16), char(x >> 8), char(x)};
      chunk.append(b, 4);
    };
    put_u32(static_cast<uint32_t>(uint64_t{records.size()} >> 32));
    put_u32(static_cast<uint32_t>(records.size()));
    constexpr size_t ahead = 8;  // records are in key order, their bytes at random in memory
    for (size_t i = 0; i < records.size(); ++i) {
      if (i + ahead < records.size()) {
        const auto& next = records[i + ahead];
        __builtin_prefetch(next.key.data());
        if (!next.value.empty())
          __builtin_prefetch(&next.value.back());
      }
      const auto& r = records[i];
      put_u32(static_cast<uint32_t>(r.key.size()));
      chunk.append(r.key);
      put_u32(static_cast<uint32_t>(r.value.size()));
      chunk.append(r.value);
      if (chunk.size() >= (64 << 10)) {
        out.write(chunk.data(), static_cast<std::streamsize>(chunk.size()));
        chunk.clear();
      }
    }
    out.write(chunk.data(), static_cast<std::streamsize>(chunk.size()));
    return static_cast<bool>(out);
  }

private:
  kv_table::frozen view_;
};

} // namespace

void kv_state_machine::save(std::ostream& out) const {
  kv_snapshot{data_}.write(out);
}

std::unique_ptr<state_snapshot> kv_state_machine::snapshot() const {
  return std::make_unique<kv_snapshot>(data_);
}

bool kv_state_machine::restore(std::istream& in) {
  kv_table fresh;
  uint32_t hi = 0;
  uint32_t lo = 0;
  if (!get_u32(in, hi)) {
    // Only a stream that is empty from the start is an empty store; a cut one is refused.
    if (in.gcount() != 0 || !in.eof())
      return false;
  } else {
    if (!get_u32(in, lo))
      return false;
    uint64_t n = (uint64_t{hi} << 32) | lo;
    fresh.reserve(static_cast<size_t>(std::min<uint64_t>(n, uint64_t{1} << 22)));  // a cut stream may lie
    std::string k;  // reused: the table copies them
    std::string v;
    for (uint64_t i = 0; i < n; ++i) {
      uint32_t len = 0;
      if (!get_u32(in, len))
        return false;
      k.resize(len);
      if (!in.read(k.data(), len) || !get_u32(in, len))
        return false;
      v.resize(len);
      if (!in.read(v.data(), len))
        return false;
      fresh.put(k, v);
    }
  }
  data_ = std::move(fresh);
  return true;
}

} // namespace raft
