#!/usr/bin/env bash
# The main job: installs dependencies, builds caf-raft, launches a local 3-node cluster on
# 127.0.0.1, writes and reads the replicated KV store through the client shell, shows each node's
# status, lets a fourth node join, lead and leave again, and stops the cluster.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh
build=${BUILD_DIR:-build-release}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DRAFT_BUILD_TESTS=OFF -DRAFT_BUILD_BENCH=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" --target caf-raft embedded_cluster
bin="$build/caf-raft"
port=${BASE_PORT:-7101}
data=$(mktemp -d "${TMPDIR:-/tmp}/caf-raft-demo.XXXXXX")
cluster="127.0.0.1:$port,127.0.0.1:$((port + 1)),127.0.0.1:$((port + 2))"

"$bin" launch --nodes=3 --dir="$data" --base-port="$port" --exit-on-failure >"$data/launch.log" 2>&1 &
launcher=$!
node4=
stop() {
  if [ -n "$node4" ]; then kill -TERM "$node4" 2>/dev/null || true; wait "$node4" 2>/dev/null || true; fi
  kill -INT "$launcher" 2>/dev/null || true
  wait "$launcher" 2>/dev/null || true
  rm -rf "$data"
}
trap stop EXIT

echo "== waiting for a leader"
"$bin" status --cluster="$cluster" --timeout=20s >/dev/null
sed -n '1,12p' "$data/launch.log"

echo "== client shell session (one command per line in, one JSON object per line out)"
printf '%s\n' "put greeting hello" "put lang c++17" "get greeting" "cas lang c++17 c++20" \
  "cas lang c++17 c++23" "get lang" "del greeting" "get greeting" "get missing" "nonsense line" \
  | tee /dev/stderr 2>"$data/in.txt" >/dev/null
printf '%s\n' "put greeting hello" "put lang c++17" "get greeting" "cas lang c++17 c++20" \
  "cas lang c++17 c++23" "get lang" "del greeting" "get greeting" "get missing" "nonsense line" \
  | "$bin" client --cluster="$cluster" | paste -d' ' <(sed 's/^/  > /' "$data/in.txt") - \
  | awk '{ printf "%-28s %s\n", substr($0, 1, index($0, "{") - 1), substr($0, index($0, "{")) }'

echo "== status of every node"
printf '%-5s %s\n' "node" "status"
for i in 0 1 2; do
  printf '%-5s ' "$((i + 1))"
  "$bin" status --direct --cluster="127.0.0.1:$((port + i))" --timeout=5s
done
echo "== each replica's own content digest (equal digests: the replicas converged)"
sleep 0.2  # followers learn the last commit index with the next heartbeat
for i in 0 1 2; do
  printf 'node %s: ' "$((i + 1))"
  "$bin" digest --direct --cluster="127.0.0.1:$((port + i))" --timeout=5s
done

echo "== membership: node 4 joins the running cluster, takes over leadership, and leaves again"
p4=$((port + 3))
members="1=127.0.0.1:$port,2=127.0.0.1:$((port + 1)),3=127.0.0.1:$((port + 2))"
"$bin" node --id=4 --join --listen="127.0.0.1:$p4" --members="$members" --data-dir="$data/node-4" \
  >"$data/node-4.log" 2>&1 &
node4=$!
run() { echo "\$ caf-raft $*"; "$bin" "$@" --cluster="$cluster" --timeout=20s; }
run member add "4=127.0.0.1:$p4" --learner
run member promote 4
run transfer-leader 4 || echo "(the transfer did not finish in time; node 4 is a voter anyway)"
run member list
run get lang
run member remove 4
kill -TERM "$node4"
wait "$node4" || true
node4=
# The others elect a new leader after an election timeout; until then they still name node 4.
for _ in $(seq 100); do
  "$bin" status --cluster="$cluster" --timeout=20s | grep -q '"leader":[123],' && break
  sleep 0.2
done
run member list
