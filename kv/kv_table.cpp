// Linear probing with backward-shift deletion (no tombstones), at most 3/4 full. Slots keep the
// full hash, so a probe compares keys only on a 64-bit hash match. Frozen views share entries by
// generation: the table never writes to an entry older than its newest live view.
#include "kv/kv_table.hpp"

#include <cstdlib>
#include <cstring>
#include <functional>
#include <new>
#include <utility>

namespace raft {

namespace {

// Fibonacci hashing spreads std::hash's output over the top bits that pick the home slot.
constexpr uint64_t spread = 0x9E3779B97F4A7C15ull;

// Values round up to 16 bytes of room, so that a slightly larger overwrite stays in place.
uint32_t room_for(size_t value_len) {
  return static_cast<uint32_t>((value_len + 15) & ~size_t{15});
}

} // namespace

kv_table::keeper::~keeper() {
  for (auto* e : retired)
    std::free(e);
}

kv_table::kv_table(kv_table&& other) noexcept
  : slots_(std::move(other.slots_)),
    size_(std::exchange(other.size_, 0)),
    content_bytes_(std::exchange(other.content_bytes_, 0)),
    shift_(std::exchange(other.shift_, 64)),
    generation_(std::exchange(other.generation_, 0)),
    keeper_(std::move(other.keeper_)) {
  other.slots_.clear();
  other.keeper_.reset();
}

kv_table& kv_table::operator=(kv_table&& other) noexcept {
  if (this != &other) {
    release();
    slots_ = std::move(other.slots_);
    other.slots_.clear();
    size_ = std::exchange(other.size_, 0);
    content_bytes_ = std::exchange(other.content_bytes_, 0);
    shift_ = std::exchange(other.shift_, 64);
    generation_ = std::exchange(other.generation_, 0);
    keeper_ = std::move(other.keeper_);
    other.keeper_.reset();
  }
  return *this;
}

kv_table::~kv_table() {
  release();
}

void kv_table::release() {
  for (auto& s : slots_)
    if (s.e != nullptr)
      retire(s.e);
  slots_.clear();
  size_ = 0;
  content_bytes_ = 0;
  shift_ = 64;
  keeper_.reset();
}

void kv_table::retire(entry* e) {
  if (e->generation < generation_) {
    // lock() holds the keeper while we add to it: its destructor, on whichever thread drops the
    // last view, cannot run meanwhile.
    if (auto views = keeper_.lock()) {
      views->retired.push_back(e);
      return;
    }
  }
  std::free(e);
}

kv_table::frozen kv_table::freeze() const {
  frozen view;
  view.keeper_ = std::make_shared<keeper>();
  if (auto older = keeper_.lock())
    older->newer = view.keeper_;
  keeper_ = view.keeper_;
  view.entries_.reserve(size_);
  for (const auto& s : slots_)
    if (s.e != nullptr)
      view.entries_.push_back(s.e);
  view.content_bytes_ = content_bytes_;
  if (generation_ == UINT32_MAX) {
    // Renumbering every entry as the oldest errs on the safe side: it may only share too much.
    for (const auto& s : slots_)
      if (s.e != nullptr)
        s.e->generation = 0;
    generation_ = 0;
  }
  ++generation_;
  return view;
}

uint64_t kv_table::hash_of(std::string_view key) {
  return std::hash<std::string_view>{}(key) * spread;
}

size_t kv_table::probe(std::string_view key, uint64_t hash) const {
  size_t mask = slots_.size() - 1;
  for (size_t i = home(hash);; i = (i + 1) & mask) {
    const auto& s = slots_[i];
    if (s.e == nullptr)
      return i;
    if (s.hash == hash && s.e->key() == key)
      return i;
  }
}

std::optional<std::string_view> kv_table::find(std::string_view key) const {
  if (size_ == 0)
    return std::nullopt;
  const auto& s = slots_[probe(key, hash_of(key))];
  if (s.e == nullptr)
    return std::nullopt;
  return s.e->value();
}

void kv_table::put(std::string_view key, uint64_t h, std::string_view value) {
  if ((size_ + 1) * 4 > slots_.size() * 3)
    rehash(slots_.empty() ? 16 : slots_.size() * 2);
  auto& s = slots_[probe(key, h)];
  if (s.e != nullptr && value.size() <= s.e->room && !shared(s.e)) {
    content_bytes_ = content_bytes_ - s.e->value_len + value.size();
    std::memcpy(s.e->value_bytes(), value.data(), value.size());
    s.e->value_len = static_cast<uint32_t>(value.size());
    return;
  }
  auto room = room_for(value.size());
  auto* e = static_cast<entry*>(std::malloc(sizeof(entry) + key.size() + room));
  if (e == nullptr)
    throw std::bad_alloc{};
  e->key_len = static_cast<uint32_t>(key.size());
  e->value_len = static_cast<uint32_t>(value.size());
  e->room = room;
  e->generation = generation_;
  std::memcpy(e->bytes(), key.data(), key.size());
  std::memcpy(e->value_bytes(), value.data(), value.size());
  content_bytes_ += value.size();
  if (s.e != nullptr) {
    content_bytes_ -= s.e->value_len;
    retire(s.e);
  } else {
    content_bytes_ += key.size();
    s.hash = h;
    ++size_;
  }
  s.e = e;
}

bool kv_table::erase(std::string_view key) {
  if (size_ == 0)
    return false;
  size_t mask = slots_.size() - 1;
  size_t hole = probe(key, hash_of(key));
  if (slots_[hole].e == nullptr)
    return false;
  content_bytes_ -= slots_[hole].e->key_len + slots_[hole].e->value_len;
  retire(slots_[hole].e);
  slots_[hole] = slot{};
  --size_;
  // Backward shift: pull later members of the run into the hole when that keeps each at or
  // after its home slot, so that every probe still finds its key before an empty slot.
  for (size_t i = (hole + 1) & mask; slots_[i].e != nullptr; i = (i + 1) & mask) {
    size_t h = home(slots_[i].hash);
    bool movable = hole <= i ? (h <= hole || h > i) : (h <= hole && h > i);
    if (movable) {
      slots_[hole] = slots_[i];
      slots_[i] = slot{};
      hole = i;
    }
  }
  return true;
}

void kv_table::reserve(size_t n) {
  size_t capacity = slots_.empty() ? 16 : slots_.size();
  while (n * 4 > capacity * 3)
    capacity *= 2;
  if (capacity != slots_.size())
    rehash(capacity);
}

void kv_table::rehash(size_t capacity) {
  std::vector<slot> old(capacity);
  old.swap(slots_);
  unsigned bits = 0;
  while ((size_t{1} << bits) < capacity)
    ++bits;
  shift_ = 64 - bits;
  size_t mask = capacity - 1;
  for (const auto& s : old) {
    if (s.e == nullptr)
      continue;
    size_t i = home(s.hash);
    while (slots_[i].e != nullptr)
      i = (i + 1) & mask;
    slots_[i] = s;
  }
}

} // namespace raft
