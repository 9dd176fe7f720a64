// Error rendering for tests without an actor system (caf::to_string(error) needs one to name
// categories), shared by the storage tests.
#pragma once

#include <string>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "messages/errc.hpp"

namespace raft::test {

inline std::string describe(const caf::error& e) {
  if (!e)
    return "none";
  auto s = e.category() == errc_category ? raft::to_string(static_cast<errc>(e.code()))
                                         : caf::to_string(e.category()) + "/"
                                             + std::to_string(e.code());
  if (!e.context().empty())
    s += " " + caf::to_string(e.context());
  return s;
}

/// The error of `x`, or none if it holds a value (calling error() on a value is undefined).
template <class T>
caf::error err(const caf::expected<T>& x) {
  return x ? caf::error{} : x.error();
}

} // namespace raft::test
