// The KV store's content: an open-addressing hash table whose entries keep key and value in one
// allocation, so that a lookup touches a slot and an entry instead of std::unordered_map's chain,
// and whose snapshots share those entries copy-on-write instead of copying the content.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

namespace raft {

class kv_table {
  struct entry;
  struct keeper;

public:
  /// The content as of freeze(), readable on any thread while the table goes on changing.
  class frozen {
  public:
    size_t size() const { return entries_.size(); }
    size_t content_bytes() const { return content_bytes_; }

    /// Calls f(key, value) for every entry, in no particular order.
    template <class F>
    void for_each(F&& f) const {
      // The entries lie at random in memory: load a few ahead of the one being read.
      constexpr size_t ahead = 8;
      for (size_t i = 0; i < entries_.size(); ++i) {
        if (i + ahead < entries_.size())
          __builtin_prefetch(entries_[i + ahead]);
        f(entries_[i]->key(), entries_[i]->value());
      }
    }

  private:
    friend class kv_table;
    std::vector<const entry*> entries_;
    size_t content_bytes_ = 0;
    std::shared_ptr<keeper> keeper_;  // frees the entries the table let go of meanwhile
  };

  kv_table() = default;
  kv_table(kv_table&& other) noexcept;
  kv_table& operator=(kv_table&& other) noexcept;
  kv_table(const kv_table&) = delete;
  kv_table& operator=(const kv_table&) = delete;
  ~kv_table();

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  /// Bytes of all keys and values together.
  size_t content_bytes() const { return content_bytes_; }

  /// The value stored under `key`; valid until the next change to the table.
  std::optional<std::string_view> find(std::string_view key) const;

  /// Inserts or overwrites. An overwrite that fits the entry's room allocates nothing, unless
  /// a live frozen view shares the entry.
  void put(std::string_view key, std::string_view value) { put(key, hash_of(key), value); }
  /// The same, with `hash` = hash_of(key) computed beforehand (for a prefetch).
  void put(std::string_view key, uint64_t hash, std::string_view value);

  /// The hash the calls above and below take.
  static uint64_t hash_of(std::string_view key);

  /// Hints that a key of this hash will be looked up soon: the first step loads its home slot,
  /// the second, issued once that slot has had time to arrive, the entry the slot points to.
  /// A batch of lookups that runs these ahead of time waits for memory once, not per key.
  void prefetch_slot(uint64_t hash) const {
    if (!slots_.empty())
      __builtin_prefetch(&slots_[home(hash)]);
  }
  void prefetch_entry(uint64_t hash) const {
    if (slots_.empty())
      return;
    if (const auto* e = slots_[home(hash)].e) {
      __builtin_prefetch(e, 1);
      __builtin_prefetch(reinterpret_cast<const char*>(e) + 64, 1);  // a 64-byte value's tail
    }
  }

  /// Returns whether the key was there.
  bool erase(std::string_view key);

  /// Makes room for `n` keys without growing again.
  void reserve(size_t n);

  /// Calls f(key, value) for every entry, in no particular order.
  template <class F>
  void for_each(F&& f) const {
    for (const auto& s : slots_)
      if (s.e != nullptr)
        f(s.e->key(), s.e->value());
  }

  /// A view of the current content that costs a pointer per entry: from now on, the table
  /// replaces rather than overwrites the entries it shares with a live view, and hands the
  /// ones it lets go of to the view, which frees them when it is gone. Const because the
  /// content does not change; only the sharing bookkeeping does.
  frozen freeze() const;

private:
  struct entry {
    uint32_t key_len;
    uint32_t value_len;
    uint32_t room;        // bytes available for the value
    uint32_t generation;  // the table's generation when the entry was made
    char* bytes() { return reinterpret_cast<char*>(this + 1); }
    const char* bytes() const { return reinterpret_cast<const char*>(this + 1); }
    char* value_bytes() { return bytes() + key_len; }
    std::string_view key() const { return {bytes(), key_len}; }
    std::string_view value() const { return {bytes() + key_len, value_len}; }
  };

  /// Entries the table dropped while frozen views still read them. A newer view's keeper is
  /// held by the older ones too: an older view reads what the newer keeper holds.
  struct keeper {
    std::vector<entry*> retired;
    std::shared_ptr<keeper> newer;
    ~keeper();
  };

  struct slot {
    uint64_t hash = 0;
    entry* e = nullptr;
  };

  size_t home(uint64_t hash) const { return static_cast<size_t>(hash >> shift_); }
  /// The slot holding `key`, or the empty slot where it would go.
  size_t probe(std::string_view key, uint64_t hash) const;
  void rehash(size_t capacity);
  /// Whether a live frozen view may read `e`.
  bool shared(const entry* e) const { return e->generation < generation_ && !keeper_.expired(); }
  /// Frees `e`, or hands it to the newest live view if one may read it.
  void retire(entry* e);
  void release();

  std::vector<slot> slots_;  // capacity is zero or a power of two
  size_t size_ = 0;
  size_t content_bytes_ = 0;
  unsigned shift_ = 64;      // 64 - log2(capacity): the hash's top bits pick the home slot
  // Entries made before the newest freeze() have an older generation: those the newest live
  // view (and any older one) may read.
  mutable uint32_t generation_ = 0;
  mutable std::weak_ptr<keeper> keeper_;  // the newest view's
};

} // namespace raft
