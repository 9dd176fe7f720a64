// KV semantics, plus a length-prefixed stream format for snapshots so a large store is never
// serialized into one in-memory buffer.
#include "kv/kv_state_machine.hpp"

#include <algorithm>
#include <cstdint>
#include <vector>
#include <istream>
#include <ostream>

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

void put_u32(std::ostream& out, uint32_t x) {
  char b[4] = {char(x >> 24), char(x >> 16), char(x >> 8), char(x)};
  out.write(b, 4);
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
      data_[cmd.key] = cmd.value;
      r.ok = true;
      break;
    case kv_op::get:
      return read_only(data_, cmd);
    case kv_op::cas: {
      auto it = data_.find(cmd.key);
      r.found = it != data_.end();
      bool matches = cmd.expect_absent ? !r.found : (r.found && it->second == cmd.expected);
      if (matches) {
        data_[cmd.key] = cmd.value;
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
  auto cmd = decode<kv_command>(command);
  if (!cmd) {
    // A malformed command is still a committed entry: it must apply identically everywhere.
    kv_result r;
    r.value = "bad_request";
    return encode(r);
  }
  if (cmd->op == kv_op::put) {
    // The most common command has a constant result: encode it once.
    static const std::string ok = encode(kv_result{true, false, {}});
    execute(*cmd);
    return ok;
  }
  return encode(execute(*cmd));
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

// Keys in sorted order: replicas with equal content write byte-identical snapshots.
void write_content(std::ostream& out, const map_type& data) {
  put_u32(out, static_cast<uint32_t>(data.size() >> 32));
  put_u32(out, static_cast<uint32_t>(data.size()));
  for (const auto* kv : sorted_entries(data)) {
    const auto& [k, v] = *kv;
    put_u32(out, static_cast<uint32_t>(k.size()));
    out.write(k.data(), static_cast<std::streamsize>(k.size()));
    put_u32(out, static_cast<uint32_t>(v.size()));
    out.write(v.data(), static_cast<std::streamsize>(v.size()));
  }
}

class kv_snapshot : public state_snapshot {
public:
  explicit kv_snapshot(map_type data) : data_(std::move(data)) {}

  bool write(std::ostream& out) override {
    write_content(out, data_);
    return static_cast<bool>(out);
  }

private:
  map_type data_;
};

} // namespace

void kv_state_machine::save(std::ostream& out) const {
  write_content(out, data_);
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
