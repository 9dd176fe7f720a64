// The built-in replicated key-value store (put, get, cas, del) used by the CLI and the tests.
#pragma once

#include <string>
#include <vector>

#include "actors/state_machine.hpp"
#include "kv/kv_table.hpp"
#include "messages/kv.hpp"

namespace raft {

class kv_state_machine : public state_machine {
public:
  std::string apply(index_t index, const std::string& command) override;
  /// Decodes a group of commands and prefetches the table memory they touch before it applies
  /// them: with more keys than the caches hold, a put otherwise waits on two misses of its own.
  void apply_batch(index_t first, const std::vector<const std::string*>& commands,
                   std::vector<std::string>& results) override;
  std::string query(const std::string& request) const override;
  /// A copy-on-write view of the content (a pointer per entry on the apply actor); sorted and
  /// written out on the snapshot writer's thread while applies go on.
  std::unique_ptr<state_snapshot> snapshot() const override;
  bool restore(std::istream& in) override;

  /// Writes the content in the snapshot format restore() reads.
  void save(std::ostream& out) const;

  /// Executes one command; reads (get, digest, size) leave the state alone.
  kv_result execute(const kv_command& cmd);

  /// Summary of the content (keys in sorted order), equal on replicas with equal state.
  std::string digest() const;

  const kv_table& data() const { return data_; }

private:
  kv_table data_;
  /// Applies a decoded command, `hash` being its key's kv_table::hash_of.
  std::string apply_decoded(const kv_command& cmd, uint64_t hash);

  kv_command scratch_;  // apply()'s decoded command, kept for its buffers
  struct decoded {
    kv_command cmd;
    uint64_t hash = 0;
    bool ok = false;
  };
  std::vector<decoded> group_;  // apply_batch()'s, kept for their buffers
};

} // namespace raft
