// kv_command's codec: CAF's binary format for its inspect fields, written and read by hand.
#include "messages/kv.hpp"

namespace raft {

namespace {

// CAF writes a sequence's length as 7-bit groups, lowest first, the high bit marking more.
void put_length(std::string& out, uint32_t n) {
  while (n > 0x7f) {
    out.push_back(static_cast<char>((n & 0x7f) | 0x80));
    n >>= 7;
  }
  out.push_back(static_cast<char>(n));
}

void put_string(std::string& out, const std::string& s) {
  put_length(out, static_cast<uint32_t>(s.size()));
  out.append(s);
}

class reader {
public:
  explicit reader(std::string_view bytes) : pos_(bytes.data()), end_(pos_ + bytes.size()) {
  }

  bool byte(uint8_t& x) {
    if (pos_ == end_)
      return false;
    x = static_cast<uint8_t>(*pos_++);
    return true;
  }

  bool string(std::string& x) {
    uint32_t n = 0;
    uint8_t b = 0x80;
    for (int shift = 0; b & 0x80; shift += 7) {
      if (shift > 28 || !byte(b))
        return false;
      n |= static_cast<uint32_t>(b & 0x7f) << shift;  // bits past 32 drop, as in CAF
    }
    if (n > static_cast<size_t>(end_ - pos_))
      return false;
    x.assign(pos_, n);
    pos_ += n;
    return true;
  }

private:
  const char* pos_;
  const char* end_;
};

} // namespace

std::string encode(const kv_command& x) {
  std::string out;
  // Two bytes, three lengths of at most 5 bytes each, three strings.
  out.reserve(2 + 3 * 5 + x.key.size() + x.value.size() + x.expected.size());
  out.push_back(static_cast<char>(x.op));
  put_string(out, x.key);
  put_string(out, x.value);
  put_string(out, x.expected);
  out.push_back(x.expect_absent ? 1 : 0);
  return out;
}

bool decode_into(std::string_view bytes, kv_command& x) {
  reader in{bytes};
  uint8_t op = 0;
  uint8_t absent = 0;
  if (!in.byte(op) || !in.string(x.key) || !in.string(x.value) || !in.string(x.expected)
      || !in.byte(absent))
    return false;
  x.op = static_cast<kv_op>(op);
  x.expect_absent = absent != 0;
  return true;
}

} // namespace raft
