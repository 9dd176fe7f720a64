// The built-in replicated key-value store (put, get, cas, del) used by the CLI and the tests.
#pragma once

#include <unordered_map>
#include <string>

#include "actors/state_machine.hpp"
#include "messages/kv.hpp"

namespace raft {

class kv_state_machine : public state_machine {
public:
  std::string apply(index_t index, const std::string& command) override;
  std::string query(const std::string& request) const override;
  /// A flat copy of the content: one memcpy per entry on the apply actor; sorted and written
  /// out on the snapshot writer's thread.
  std::unique_ptr<state_snapshot> snapshot() const override;
  bool restore(std::istream& in) override;

  /// Writes the content in the snapshot format restore() reads.
  void save(std::ostream& out) const;

  /// Executes one command; reads (get, digest, size) leave the state alone.
  kv_result execute(kv_command cmd);

  /// Summary of the content (keys in sorted order), equal on replicas with equal state.
  std::string digest() const;

  using map_type = std::unordered_map<std::string, std::string>;
  const map_type& data() const { return data_; }

private:
  map_type data_;
  kv_command scratch_;  // apply()'s decoded command, kept for its buffers
};

} // namespace raft
