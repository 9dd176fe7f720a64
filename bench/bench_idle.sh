#!/usr/bin/env bash
# Idle cost (issue #7, "what limits each figure"): CPU seconds burnt by 3 idle caf-raft node
# processes and by 3 idle etcd members over WINDOW seconds, after a leader is elected.
# Usage: bench/bench_idle.sh [extra caf-raft node options, e.g. --scheduler.policy=sharing]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
BUILD=${BUILD:-$here/../build-bench}; WINDOW=${WINDOW:-10}; DIR=${DIR:-/tmp/caf-raft-bench/idle}
rm -rf "$DIR"; mkdir -p "$DIR"
cpu() { awk '{ s = substr($0, index($0, ")") + 2); split(s, f, " "); print f[12] + f[13] }' "/proc/$1/stat"; }
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; [ -n "${KEEP:-}" ] || rm -rf "$DIR"; }
trap cleanup EXIT
measure() {  # label pid...
  local label=$1; shift; local before=0 after=0
  sleep 3
  for p in "$@"; do before=$((before + $(cpu "$p"))); done
  sleep "$WINDOW"
  for p in "$@"; do after=$((after + $(cpu "$p"))); done
  echo "{\"idle\":\"$label\",\"window_s\":$WINDOW,\"cpu_s_all_nodes\":$(echo "($after - $before) / 100" | bc -l | cut -c1-6)}"
}
m="1=127.0.0.1:27401,2=127.0.0.1:27402,3=127.0.0.1:27403"; cp=()
for i in 1 2 3; do
  "$BUILD/caf-raft" node --id=$i --members="$m" --data-dir="$DIR/n$i" "$@" >"$DIR/n$i.log" 2>&1 &
  pids+=($!); cp+=($!)
done
measure "caf-raft $*" "${cp[@]}"
cluster="e1=http://127.0.0.1:27411,e2=http://127.0.0.1:27413,e3=http://127.0.0.1:27415"; ep=()
for i in 1 2 3; do
  etcd --name e$i --data-dir "$DIR/e$i" --listen-client-urls http://127.0.0.1:$((27408 + 2*i)) \
    --advertise-client-urls http://127.0.0.1:$((27408 + 2*i)) --listen-peer-urls http://127.0.0.1:$((27409 + 2*i)) \
    --initial-advertise-peer-urls http://127.0.0.1:$((27409 + 2*i)) --initial-cluster "$cluster" \
    --initial-cluster-state new --log-level error --logger zap >"$DIR/e$i.log" 2>&1 &
  pids+=($!); ep+=($!)
done
measure "etcd" "${ep[@]}"
