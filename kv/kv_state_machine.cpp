// KV semantics, plus snapshots: a flat capture on the apply actor, sorted and streamed out in a
// length-prefixed format by the snapshot writer; restore reads that format back as a stream.
#include "kv/kv_state_machine.hpp"

#include <algorithm>
#include <cstdint>
#include <istream>
#include <ostream>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "messages/codec.hpp"

namespace raft {

namespace {

using map_type = kv_state_machine::map_type;

kv_result read_only(const map_type& data, const kv_command& cmd) {
  kv_result r;
  r.ok = true;
  auto it = data.find(cmd.key);
  r.found = it != data.end();
  if (r.found)
    r.value = it->second;
  return r;
}

std::vector<const map_type::value_type*> sorted_entries(const map_type& data) {
  std::vector<const map_type::value_type*> out;
  out.reserve(data.size());
  for (const auto& kv : data)
    out.push_back(&kv);
  std::sort(out.begin(), out.end(),
            [](const auto* a, const auto* b) { return a->first < b->first; });
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

kv_result kv_state_machine::execute(kv_command cmd) {
  kv_result r;
  switch (cmd.op) {
    case kv_op::put:
      // The decoded strings move into the map: no allocation for an overwrite.
      data_.insert_or_assign(std::move(cmd.key), std::move(cmd.value));
      r.ok = true;
      break;
    case kv_op::get:
      return read_only(data_, cmd);
    case kv_op::cas: {
      auto it = data_.find(cmd.key);
      r.found = it != data_.end();
      bool matches = cmd.expect_absent ? !r.found : (r.found && it->second == cmd.expected);
      if (matches) {
        if (r.found)
          it->second = std::move(cmd.value);
        else
          data_.emplace(std::move(cmd.key), std::move(cmd.value));
        r.ok = true;
      } else if (r.found) {
        r.value = it->second;
      }
      break;
    }
    case kv_op::del:
      r.found = data_.erase(cmd.key) > 0;
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

std::string kv_state_machine::apply(index_t, const std::string& command) {
  // Decoding into the same command each time reuses its strings' buffers, so that overwriting a
  // key allocates nothing: on three replicas that was two allocations and two frees per write.
  caf::binary_deserializer source{nullptr, command.data(), command.size()};
  if (source(scratch_)) {
    // A malformed command is still a committed entry: it must apply identically everywhere.
    kv_result r;
    r.value = "bad_request";
    return encode(r);
  }
  if (scratch_.op == kv_op::put) {
    // The most common command has a constant result: encode it once.
    static const std::string ok = encode(kv_result{true, false, {}});
    auto it = data_.find(scratch_.key);
    if (it != data_.end())
      it->second.assign(scratch_.value);
    else
      data_.emplace(scratch_.key, scratch_.value);
    return ok;
  }
  return encode(execute(scratch_));
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
  // FNV-1a over the content in key order, so that it does not depend on hash-table layout.
  auto sorted = sorted_entries(data_);
  uint64_t h = 1469598103934665603ull;
  auto mix = [&h](const std::string& s) {
    for (unsigned char c : s) {
      h ^= c;
      h *= 1099511628211ull;
    }
    h ^= 0xff;
    h *= 1099511628211ull;
  };
  for (const auto* kv : sorted) {
    mix(kv->first);
    mix(kv->second);
  }
  return fmt::format("{:016x}", h);
}

namespace {

// A point-in-time copy of the content as one flat buffer of records: a memcpy per entry on the
// apply actor instead of a map copy with three allocations per entry. The writer thread sorts
// it: keys in sorted order make replicas with equal content write byte-identical snapshots.
class kv_snapshot : public state_snapshot {
public:
  explicit kv_snapshot(const map_type& data) {
    size_t bytes = 0;
    for (const auto& [k, v] : data)
      bytes += k.size() + v.size();
    buf_.reserve(bytes);
    records_.reserve(data.size());
    for (const auto& [k, v] : data) {
      records_.push_back({buf_.size(), static_cast<uint32_t>(k.size()),
                          static_cast<uint32_t>(v.size())});
      buf_.append(k).append(v);
    }
  }

  bool write(std::ostream& out) override {
    std::sort(records_.begin(), records_.end(),
              [this](const record& a, const record& b) { return key(a) < key(b); });
    std::string chunk;
    auto put_u32 = [&chunk](uint32_t x) {
      char b[4] = {char(x >> 24), char(x >> 16), char(x >> 8), char(x)};
      chunk.append(b, 4);
    };
    put_u32(static_cast<uint32_t>(uint64_t{records_.size()} >> 32));
    put_u32(static_cast<uint32_t>(records_.size()));
    for (const auto& r : records_) {
      put_u32(r.key_len);
      chunk.append(key(r));
      put_u32(r.value_len);
      chunk.append(buf_, r.offset + r.key_len, r.value_len);
      if (chunk.size() >= (64 << 10)) {
        out.write(chunk.data(), static_cast<std::streamsize>(chunk.size()));
        chunk.clear();
      }
    }
    out.write(chunk.data(), static_cast<std::streamsize>(chunk.size()));
    return static_cast<bool>(out);
  }

private:
  struct record {
    size_t offset;
    uint32_t key_len;
    uint32_t value_len;
  };

  std::string_view key(const record& r) const { return {buf_.data() + r.offset, r.key_len}; }

  std::string buf_;
  std::vector<record> records_;
};

} // namespace

void kv_state_machine::save(std::ostream& out) const {
  kv_snapshot{data_}.write(out);
}

std::unique_ptr<state_snapshot> kv_state_machine::snapshot() const {
  return std::make_unique<kv_snapshot>(data_);
}

bool kv_state_machine::restore(std::istream& in) {
  map_type fresh;
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
    for (uint64_t i = 0; i < n; ++i) {
      uint32_t len = 0;
      std::string k;
      std::string v;
      if (!get_u32(in, len))
        return false;
      k.resize(len);
      if (!in.read(k.data(), len) || !get_u32(in, len))
        return false;
      v.resize(len);
      if (!in.read(v.data(), len))
        return false;
      fresh.emplace(std::move(k), std::move(v));
    }
  }
  data_ = std::move(fresh);
  return true;
}

} // namespace raft
