#!/usr/bin/env bash
# The main job: installs dependencies, builds caf-raft, launches a local 3-node cluster on
# 127.0.0.1, writes and reads the replicated KV store through the client shell, shows each node's
# status, and stops the cluster again.
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
stop() {
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
