// Encodes message structs into log payload bytes and back with CAF's binary serialization.
#pragma once

#include <string>
#include <vector>

#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>
#include <caf/detail/serialized_size.hpp>
#include <caf/serializer_impl.hpp>
#include <caf/expected.hpp>

#include "messages/errc.hpp"

namespace raft {

template <class T>
std::string encode(const T& x) {
  // CAF's binary format, written straight into the string the payload will hold. Sized first:
  // growing it while writing would cost a command of a hundred bytes three allocations.
  // The serializers' interface takes non-const references; they do not modify `x`.
  caf::detail::serialized_size_inspector size{nullptr};
  static_cast<void>(size(const_cast<T&>(x)));
  std::string buf;
  buf.reserve(size.result());
  caf::serializer_impl<std::string> sink{nullptr, buf};
  auto err = sink(const_cast<T&>(x));
  static_cast<void>(err);  // writing into memory cannot fail
  return buf;
}

template <class T>
caf::expected<T> decode(const std::string& bytes) {
  T x;
  caf::binary_deserializer source{nullptr, bytes.data(), bytes.size()};
  if (auto err = source(x))
    return make_error(errc::invalid_argument, "malformed payload");
  return x;
}

} // namespace raft
