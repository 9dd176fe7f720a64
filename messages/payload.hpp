// A log entry's bytes, immutable and shared: the cache, the store, the replicators and the
// applier all hold the one copy a write gets when it is proposed or received.
#pragma once

#include <cstddef>
#include <memory>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>

#include <caf/error.hpp>
#include <caf/meta/load_callback.hpp>

namespace raft {

class payload {
public:
  payload() = default;

  // Implicit, so that an entry is still built from a command string; the string is moved in.
  payload(std::string bytes)
    : bytes_(bytes.empty() ? nullptr : std::make_shared<const std::string>(std::move(bytes))) {
  }

  payload(const char* bytes) : payload(std::string{bytes}) {
  }

  const std::string& str() const noexcept {
    static const std::string none;
    return bytes_ ? *bytes_ : none;
  }

  // Lets the state machine and the decoders read an entry as the string they always took.
  operator const std::string&() const noexcept {
    return str();
  }

  const char* data() const noexcept {
    return str().data();
  }

  size_t size() const noexcept {
    return bytes_ ? bytes_->size() : 0;
  }

  bool empty() const noexcept {
    return size() == 0;
  }

  friend bool operator==(const payload& x, const payload& y) {
    return x.bytes_ == y.bytes_ || x.str() == y.str();
  }
  friend bool operator==(const payload& x, std::string_view y) {
    return std::string_view{x.str()} == y;
  }
  friend bool operator==(std::string_view x, const payload& y) {
    return y == x;
  }
  friend bool operator==(const payload& x, const std::string& y) {
    return x.str() == y;
  }
  friend bool operator==(const std::string& x, const payload& y) {
    return y == x;
  }
  friend bool operator==(const payload& x, const char* y) {
    return x == std::string_view{y};
  }
  template <class T>
  friend bool operator!=(const payload& x, const T& y) {
    return !(x == y);
  }

  friend std::ostream& operator<<(std::ostream& out, const payload& x) {
    return out << x.str();
  }

private:
  std::shared_ptr<const std::string> bytes_;
};

// On the wire exactly a std::string, as the field was before it was shared.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, payload& x) {
  if constexpr (Inspector::writes_state) {
    std::string bytes;
    return f(bytes, caf::meta::load_callback([&]() -> caf::error {
               x = payload{std::move(bytes)};
               return caf::none;
             }));
  } else {
    // The serializer's interface takes non-const references; it does not modify the bytes.
    return f(const_cast<std::string&>(x.str()));
  }
}

} // namespace raft
