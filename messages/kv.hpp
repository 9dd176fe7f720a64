// Commands and results of the built-in replicated key-value store; they travel as log payloads.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <caf/meta/type_name.hpp>

namespace raft {

enum class kv_op : uint8_t { put = 1, get = 2, cas = 3, del = 4, digest = 5, size = 6 };

struct kv_command {
  kv_op op = kv_op::get;
  std::string key;
  std::string value;     // put: new value; cas: new value
  std::string expected;  // cas: required current value
  bool expect_absent = false;  // cas: succeed only if the key is absent

  static kv_command put(std::string k, std::string v) {
    return {kv_op::put, std::move(k), std::move(v), {}, false};
  }
  static kv_command get(std::string k) { return {kv_op::get, std::move(k), {}, {}, false}; }
  static kv_command del(std::string k) { return {kv_op::del, std::move(k), {}, {}, false}; }
  static kv_command cas(std::string k, std::string expected, std::string v) {
    return {kv_op::cas, std::move(k), std::move(v), std::move(expected), false};
  }
  static kv_command cas_absent(std::string k, std::string v) {
    return {kv_op::cas, std::move(k), std::move(v), {}, true};
  }
  static kv_command digest() { return {kv_op::digest, {}, {}, {}, false}; }
};

struct kv_result {
  bool ok = false;        // put/del: true; cas: swapped; get: always true
  bool found = false;     // whether the key existed (get/cas/del)
  std::string value;      // get: the value; failed cas: the current value; digest: hex digest
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, kv_command& x) {
  return f(caf::meta::type_name("raft.kv_command"), x.op, x.key, x.value, x.expected,
           x.expect_absent);
}

// A command is encoded on every client write and decoded on every replica's apply, and CAF's
// serializers build and drop an error object per field: a tenth of the in-process CPU. These
// two read and write exactly the bytes `inspect` defines with CAF's binary format (the tests
// hold them to it), so they mix freely with raft::encode / raft::decode.

/// The command in CAF's binary format; preferred over the generic raft::encode template.
std::string encode(const kv_command& x);

/// Reads a command from CAF's binary format into `x`, reusing its strings' buffers. Like CAF,
/// it ignores bytes after the command; unlike CAF, it refuses a length of more than 5 bytes,
/// which CAF's reader would shift past 32 bits. Returns false on malformed input.
bool decode_into(std::string_view bytes, kv_command& x);

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, kv_result& x) {
  return f(caf::meta::type_name("raft.kv_result"), x.ok, x.found, x.value);
}

} // namespace raft
