// Embeds a 3-node caf-raft cluster in one actor_system: spawn, wire peers, write and read the KV
// store through whichever node leads, then print every node's status.
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

#include <caf/all.hpp>
#include <fmt/format.h>

#include "actors/node.hpp"
#include "config/scheduler_tuning.hpp"
#include "kv/kv_state_machine.hpp"
#include "messages/codec.hpp"
#include "messages/errc.hpp"
#include "messages/registry.hpp"

using namespace std::chrono_literals;

namespace {

struct config : caf::actor_system_config {
  std::string dir = "embedded-cluster-data";
  config() {
    opt_group{custom_options_, "global"}.add(dir, "dir,d", "where the three data dirs live");
    raft::add_message_types(*this);
    raft::tune_scheduler(*this);
  }
};

// Sends `cmd` to the node we believe leads, following not_leader redirects.
caf::expected<raft::kv_result> run(caf::scoped_actor& self, std::vector<raft::node_api>& nodes,
                                   size_t& leader, const raft::kv_command& cmd, bool write) {
  for (int attempt = 0; attempt < 50; ++attempt) {
    caf::expected<raft::kv_result> out{caf::error{}};
    auto on_reply = [&](std::string& bytes) { out = raft::decode<raft::kv_result>(bytes); };
    auto on_error = [&](caf::error& err) { out = std::move(err); };
    if (write)
      self->request(nodes[leader], 2s, raft::propose_atom::value, raft::encode(cmd))
        .receive(on_reply, on_error);
    else
      self->request(nodes[leader], 2s, raft::query_atom::value, raft::encode(cmd))
        .receive(on_reply, on_error);
    if (out || !raft::is(out.error(), raft::errc::not_leader))
      return out;
    auto hint = out.error().context().match_elements<raft::node_id, std::string>()
                  ? out.error().context().get_as<raft::node_id>(0)
                  : 0;
    leader = hint != 0 ? hint - 1 : (leader + 1) % nodes.size();
    std::this_thread::sleep_for(100ms);
  }
  return raft::make_error(raft::errc::unavailable, "no leader found");
}

} // namespace

void caf_main(caf::actor_system& sys, const config& cfg) {
  raft::membership members;
  members.voters = {1, 2, 3};
  std::vector<raft::node_api> nodes;
  for (raft::node_id id = 1; id <= 3; ++id) {
    raft::node_config nc;
    nc.id = id;
    nc.bootstrap = members;
    nc.data_dir = fmt::format("{}/node-{}", cfg.dir, id);
    nc.heartbeat_interval = 20ms;
    nc.election_timeout = 200ms;
    auto n = raft::spawn_node(sys, nc, std::make_unique<raft::kv_state_machine>());
    if (!n) {
      fmt::print(stderr, "cannot start node {}: {}\n", id, sys.render(n.error()));
      return;
    }
    nodes.push_back(*n);
  }
  // In one process, peers are the nodes' own handles; across processes they are remote proxies.
  for (size_t i = 0; i < nodes.size(); ++i)
    for (size_t j = 0; j < nodes.size(); ++j)
      if (i != j)
        caf::anon_send(caf::actor_cast<caf::actor>(nodes[i]), raft::peer_atom::value,
                       raft::node_id{j + 1}, caf::actor_cast<caf::actor>(nodes[j]));
  caf::scoped_actor self{sys};
  size_t leader = 0;
  auto started = std::chrono::steady_clock::now();
  for (int i = 0; i < 5; ++i) {
    auto put = raft::kv_command::put(fmt::format("key{}", i), fmt::format("value{}", i));
    auto r = run(self, nodes, leader, put, true);
    if (!r) {
      fmt::print(stderr, "put failed: {}\n", sys.render(r.error()));
      break;
    }
    fmt::print("put key{} = value{}\n", i, i);
  }
  auto get = raft::kv_command::get("key3");
  if (auto r = run(self, nodes, leader, get, false))
    fmt::print("get key3 -> {} (linearizable read via node {})\n",
               r->found ? r->value : "(absent)", leader + 1);
  fmt::print("elapsed: {} ms\n", std::chrono::duration_cast<std::chrono::milliseconds>(
                                     std::chrono::steady_clock::now() - started)
                                     .count());
  std::this_thread::sleep_for(100ms);  // let followers apply the last commit
  fmt::print("{:>4} {:>9} {:>5} {:>7} {:>7} {:>8}\n", "node", "role", "term", "commit",
             "applied", "last");
  for (auto& n : nodes) {
    self->request(n, 2s, raft::status_atom::value)
      .receive(
        [&](raft::node_status& s) {
          fmt::print("{:>4} {:>9} {:>5} {:>7} {:>7} {:>8}\n", s.id, s.role, s.term, s.commit,
                     s.applied, s.last.index);
        },
        [&](caf::error& err) { fmt::print(stderr, "status: {}\n", sys.render(err)); });
  }
  for (auto& n : nodes)
    self->send_exit(n, caf::exit_reason::user_shutdown);
}

CAF_MAIN()
