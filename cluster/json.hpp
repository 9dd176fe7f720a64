// Minimal JSON output for the client shell: string escaping plus an object builder that keeps
// member order, so each reply is one line that other tools can parse.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <fmt/format.h>

namespace raft::cli {

/// Escapes `s` as a JSON string literal including the quotes. Bytes >= 0x80 pass through
/// unchanged (keys and values are expected to be UTF-8); control characters become \u00XX.
inline std::string json_quote(const std::string& s) {
  std::string out;
  out.reserve(s.size() + 2);
  out += '"';
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (c < 0x20 || c == 0x7f)
          out += fmt::format("\\u{:04x}", static_cast<unsigned>(c));
        else
          out += static_cast<char>(c);
    }
  }
  out += '"';
  return out;
}

/// Builds one flat JSON object; values are appended already rendered (see the typed helpers).
class json_object {
public:
  json_object& raw(const std::string& key, const std::string& rendered) {
    if (!body_.empty())
      body_ += ',';
    body_ += json_quote(key);
    body_ += ':';
    body_ += rendered;
    return *this;
  }
  json_object& str(const std::string& key, const std::string& value) {
    return raw(key, json_quote(value));
  }
  json_object& boolean(const std::string& key, bool value) {
    return raw(key, value ? "true" : "false");
  }
  json_object& null(const std::string& key) { return raw(key, "null"); }
  json_object& num(const std::string& key, uint64_t value) {
    return raw(key, std::to_string(value));
  }
  std::string render() const { return "{" + body_ + "}"; }

private:
  std::string body_;
};

inline std::string json_array(const std::vector<uint64_t>& xs) {
  std::string out = "[";
  for (size_t i = 0; i < xs.size(); ++i) {
    if (i > 0)
      out += ',';
    out += std::to_string(xs[i]);
  }
  return out + "]";
}

} // namespace raft::cli
