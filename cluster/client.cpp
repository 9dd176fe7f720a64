// Leader finding and retry policy of the CLI client. Each request runs in a short-lived worker
// actor that also monitors the connection, so a peer dying mid-request is reported at once
// instead of as a late timeout (messages to a dead proxy are silently dropped).
#include "cluster/client.hpp"

#include <algorithm>
#include <set>
#include <thread>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/io/middleman.hpp>
#include <caf/scoped_actor.hpp>

#include <fmt/format.h>

#include "actors/node.hpp"
#include "messages/codec.hpp"
#include "messages/errc.hpp"

namespace raft::cli {

namespace {

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;
using done_atom = caf::atom_constant<caf::atom("done")>;
using lost_atom = caf::atom_constant<caf::atom("lost")>;

caf::error fail(errc code, std::string message) {
  return raft::make_error(code, std::move(message));
}

caf::error fail(client_errc code, std::string message) {
  return caf::error{static_cast<uint8_t>(code), client_errc_category,
                    caf::make_message(std::move(message))};
}

caf::timespan until(clock_type::time_point deadline) {
  auto left = deadline - clock_type::now();
  return left > clock_type::duration::zero()
           ? std::chrono::duration_cast<caf::timespan>(left)
           : caf::timespan{0};
}

// One request's fate: a reply, an error reply (or request timeout), or a lost connection.
template <class Reply>
struct attempt {
  std::optional<Reply> value;
  caf::error err;
  bool lost = false;
};

} // namespace

struct cluster_client::impl {
  caf::actor_system& sys;
  client_options opts;
  caf::scoped_actor self;
  std::map<endpoint, caf::actor> conns;               // monitored by `self`
  std::map<endpoint, caf::strong_actor_ptr> dead;     // last dead proxy per endpoint
  std::map<node_id, endpoint> book;                   // learned from status replies
  std::optional<endpoint> leader;
  size_t rotation = 0;
  uint64_t seq = 0;

  impl(caf::actor_system& sys, client_options opts)
    : sys(sys), opts(std::move(opts)), self(sys) {
  }

  void forget(endpoint ep) {  // by value: callers may pass a reference into `conns`
    auto i = conns.find(ep);
    if (i == conns.end())
      return;
    dead[ep] = caf::actor_cast<caf::strong_actor_ptr>(i->second);
    if (leader == ep)
      leader.reset();
    conns.erase(i);
  }

  void on_down(const caf::down_msg& dm) {
    for (auto& [ep, conn] : conns)
      if (conn.address() == dm.source) {
        forget(ep);
        return;
      }
  }

  // Processes the down_msgs that arrived while idle, so a dead proxy is not used for a write.
  void drain_downs() {
    bool more = true;
    while (more)
      self->receive([&](caf::down_msg& dm) { on_down(dm); },
                    caf::after(caf::timespan{0}) >> [&] { more = false; });
  }

  caf::expected<caf::actor> connect(const endpoint& ep, caf::timespan timeout) {
    drain_downs();
    if (auto i = conns.find(ep); i != conns.end())
      return i->second;
    if (timeout <= caf::timespan{0})
      return fail(errc::unavailable, "deadline exceeded");
    caf::expected<caf::actor> result{caf::actor{}};
    auto mm = sys.middleman().actor_handle();
    self->request(mm, timeout, caf::connect_atom::value, ep.host, ep.port)
      .receive(
        [&](const caf::node_id&, caf::strong_actor_ptr& ptr, const std::set<std::string>&) {
          if (!ptr)
            result = fail(errc::unavailable, fmt::format("nothing published at {}", ep.to_string()));
          else if (auto d = dead.find(ep); d != dead.end() && d->second == ptr)
            // The middleman's cache still holds the proxy that just died (see peer_connector).
            result = fail(errc::unavailable, fmt::format("{} restarting", ep.to_string()));
          else
            result = caf::actor_cast<caf::actor>(std::move(ptr));
        },
        [&](caf::error& err) {
          result = fail(errc::unavailable, fmt::format("cannot connect to {}: {}",
                                                        ep.to_string(), sys.render(err)));
        });
    if (result) {
      dead.erase(ep);
      self->monitor(*result);
      conns.emplace(ep, *result);
    }
    return result;
  }

  template <class Reply, class... Ts>
  attempt<Reply> call(const caf::actor& dst, caf::timespan timeout, const Ts&... xs) {
    auto me = caf::actor_cast<caf::actor>(self);
    auto id = ++seq;
    // The target travels as a spawn argument: CAF 0.17 dereferences a null tuple pointer when
    // spawning a function without arguments (UBSan flags it).
    auto worker = [=](caf::event_based_actor* w, caf::actor target) -> caf::behavior {
      w->monitor(target);
      w->set_down_handler([=](caf::down_msg& dm) {
        if (dm.source == target.address()) {
          w->send(me, lost_atom::value, id);
          w->quit();
        }
      });
      w->request(target, timeout, xs...)
        .then(
          [=](Reply& r) {
            w->send(me, done_atom::value, id, std::move(r));
            w->quit();
          },
          [=](caf::error& err) {
            w->send(me, id, std::move(err));
            w->quit();
          });
      // Keeps the worker alive until quit; nothing else is ever sent to it.
      return {[](done_atom) {}};
    };
    sys.spawn(worker, dst);
    attempt<Reply> out;
    bool done = false;
    while (!done)
      self->receive(
        [&](done_atom, uint64_t rid, Reply& r) {
          if (rid == id) {
            out.value = std::move(r);
            done = true;
          }
        },
        [&](lost_atom, uint64_t rid) {
          if (rid == id)
            out.lost = done = true;
        },
        [&](uint64_t rid, caf::error& err) {
          if (rid == id) {
            out.err = std::move(err);
            done = true;
          }
        },
        [&](caf::down_msg& dm) { on_down(dm); },
        // The worker always answers (its request has a timeout); this is a safety net only.
        caf::after(timeout + 5s) >> [&] {
          out.err = caf::sec::request_timeout;
          done = true;
        });
    return out;
  }

  void learn(const node_status& st) { learn(st.config); }

  void learn(const membership& config) {
    for (auto& [id, addr] : config.addresses)
      if (auto ep = parse_endpoint(addr))
        book[id] = *ep;
  }

  std::vector<endpoint> candidates() const {
    std::vector<endpoint> xs = opts.seeds;
    for (auto& [id, ep] : book)
      if (std::find(xs.begin(), xs.end(), ep) == xs.end())
        xs.push_back(ep);
    return xs;
  }

  endpoint pick() {
    if (opts.direct)
      return opts.seeds.front();
    if (leader)
      return *leader;
    auto xs = candidates();
    return xs[rotation++ % xs.size()];
  }

  // Follows a not_leader hint: the leader's address comes from the book, which a status call
  // to the redirecting node fills if needed. Returns false if no address is known.
  bool follow(node_id hint, const caf::actor& via, clock_type::time_point deadline) {
    if (hint == no_node)
      return false;
    if (book.count(hint) == 0) {
      auto st = call<node_status>(via, std::min(until(deadline), caf::timespan{1s}),
                                  status_atom::value);
      if (st.value)
        learn(*st.value);
    }
    auto i = book.find(hint);
    if (i == book.end())
      return false;
    leader = i->second;
    return true;
  }

  // The retry loop shared by all operations. Writes are retried only after failures that prove
  // the request was not applied (no connection, not_leader, shutting_down, transfer); a write
  // that timed out or lost its connection after sending is reported as timeout/unavailable.
  // `write_noun` names the request in those reports ("write", "membership change", ...); null
  // marks a read, which is retried freely.
  template <class Reply, class... Ts>
  caf::expected<Reply> run(const char* write_noun, const Ts&... xs) {
    const bool is_write = write_noun != nullptr;
    auto may_or_may_not = [&] {
      return fmt::format("; the {} may or may not have been applied", write_noun);
    };
    auto deadline = clock_type::now() + opts.timeout;
    // What to report when the deadline passes. Writes return at once on any failure that leaves
    // the outcome unknown, so for them `last` is always a failure that applied nothing.
    caf::error last = fail(client_errc::unreachable, "no cluster member reachable");
    auto pause = caf::timespan{0};
    for (;;) {
      if (pause > caf::timespan{0}) {
        std::this_thread::sleep_for(std::min(pause, until(deadline)));
        pause = caf::timespan{0};
      }
      if (until(deadline) <= caf::timespan{0})
        return last;
      auto target = pick();
      auto conn = connect(target, std::min(until(deadline), caf::timespan{2s}));
      if (!conn) {
        last = fail(client_errc::unreachable, error_message(conn.error()));
        leader.reset();
        pause = 50ms;
        continue;
      }
      // A write waits for the whole deadline (it cannot be retried anyway); a read gives up on
      // one node after 2s to try another.
      auto tmo = is_write ? until(deadline) : std::min(until(deadline), caf::timespan{2s});
      auto res = call<Reply>(*conn, tmo, xs...);
      if (res.value)
        return std::move(*res.value);
      // A node that stopped (say, on a full disk) while its connection was still open: the
      // request reached a dead actor, or a live one that died before answering.
      if (res.lost || res.err == caf::sec::request_receiver_down) {
        forget(target);
        auto msg = fmt::format("connection to {} lost", target.to_string());
        if (is_write)
          return fail(errc::unavailable, msg + may_or_may_not());
        last = fail(errc::unavailable, msg);
        leader.reset();
        pause = 50ms;
        continue;
      }
      auto& err = res.err;
      if (err == caf::sec::request_timeout || is(err, errc::timeout)) {
        // The node's own timeouts (e.g. a leadership transfer that did not finish) say more.
        auto msg = err == caf::sec::request_timeout
                     ? fmt::format("no reply from {} in time", target.to_string())
                     : fmt::format("{} (at {})", error_message(err), target.to_string());
        if (is_write)
          return fail(errc::timeout, msg + may_or_may_not());
        last = fail(errc::timeout, msg);
        leader.reset();
        continue;
      }
      if (is(err, errc::unavailable)) {
        if (is_write)
          return fail(errc::unavailable, error_message(err) + may_or_may_not());
        last = err;
        leader.reset();
        pause = 100ms;
        continue;
      }
      if (is(err, errc::not_leader)) {
        if (opts.direct)
          return err;
        auto hint = leader_hint(err);
        last = fail(client_errc::no_leader, "no leader found in time (election in progress?)");
        if (!follow(hint, *conn, deadline) || leader == target) {
          leader.reset();
          pause = 50ms;  // probably mid-election: give it a moment
        }
        continue;
      }
      if (is(err, errc::shutting_down) || is(err, errc::transfer_in_progress)) {
        last = err;
        leader.reset();
        pause = 50ms;
        continue;
      }
      if (is(err, errc::busy)) {
        last = err;  // refused and not applied: the same leader, a moment later
        pause = 50ms;
        continue;
      }
      // Anything else (entry_too_large, invalid_argument, storage errors, ...) is final.
      return err;
    }
  }
};

cluster_client::cluster_client(caf::actor_system& sys, client_options opts)
  : impl_(std::make_unique<impl>(sys, std::move(opts))) {
}

cluster_client::~cluster_client() = default;

caf::expected<kv_result> cluster_client::write(const kv_command& cmd) {
  auto res = impl_->run<std::string>("write", propose_atom::value, encode(cmd));
  if (!res)
    return res.error();
  return decode<kv_result>(*res);
}

caf::expected<kv_result> cluster_client::read(const kv_command& cmd) {
  // A digest pinned to one node (--direct) reports that replica's own applied content, so
  // replicas can be compared; every other read goes through the leader's ReadIndex.
  auto res = impl_->opts.direct && cmd.op == kv_op::digest
               ? impl_->run<std::string>(nullptr, query_atom::value, local_atom::value, encode(cmd))
               : impl_->run<std::string>(nullptr, query_atom::value, encode(cmd));
  if (!res)
    return res.error();
  return decode<kv_result>(*res);
}

caf::expected<node_status> cluster_client::status() {
  auto& d = *impl_;
  auto st = d.run<node_status>(nullptr, status_atom::value);
  if (!st)
    return st;
  d.learn(*st);
  // A node that does not lead is no place to keep asking: a removed or partitioned one may not
  // hear of a new leader for good, so the next request must look elsewhere.
  if (st->leader != st->id)
    d.leader.reset();
  if (d.opts.direct || st->leader == no_node || st->leader == st->id)
    return st;
  // Prefer the leader's own view (its commit index is authoritative); fall back to ours.
  auto i = d.book.find(st->leader);
  if (i == d.book.end())
    return st;
  auto conn = d.connect(i->second, 1s);
  if (!conn)
    return st;
  auto lst = d.call<node_status>(*conn, 1s, status_atom::value);
  if (lst.value) {
    d.learn(*lst.value);
    d.leader = i->second;
    return std::move(*lst.value);
  }
  return st;
}

caf::expected<membership> cluster_client::change(const membership_change& change) {
  auto& d = *impl_;
  auto res = d.run<membership>("membership change", change_atom::value, change);
  if (res)
    d.learn(*res);
  return res;
}

caf::expected<node_id> cluster_client::transfer_leadership(node_id target) {
  auto& d = *impl_;
  auto res = d.run<node_id>("leadership transfer", transfer_atom::value, target);
  // The old leader answers once it has stepped down; the next request must look again.
  d.leader.reset();
  return res;
}

std::string error_code(const caf::error& err) {
  if (err.category() == client_errc_category)
    return static_cast<client_errc>(err.code()) == client_errc::unreachable ? "unreachable"
                                                                           : "no_leader";
  if (err.category() != errc_category)
    return "internal";
  auto code = static_cast<errc>(err.code());
  if (code == errc::invalid_argument)
    return "bad_request";
  return to_string(code);
}

std::string error_message(const caf::error& err) {
  const auto& ctx = err.context();
  for (size_t i = 0; i < ctx.size(); ++i)
    if (ctx.match_element<std::string>(i))
      return ctx.get_as<std::string>(i);
  if (err.category() == errc_category)
    return to_string(static_cast<errc>(err.code()));
  return caf::to_string(err);
}

bool outcome_unknown(const caf::error& err) {
  return is(err, errc::timeout) || is(err, errc::unavailable);
}

} // namespace raft::cli
