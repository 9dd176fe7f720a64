#!/usr/bin/env bash
# caf-raft multi-process benchmark (issue #7): 3 `caf-raft node` processes on loopback driven by
# bench_raft --mode=remote (load) or --mode=failover (kill -9 the leader, time first acked write).
# Usage: bench/bench_multiproc.sh load|failover [out.jsonl]
#   env: INFLIGHT="1 16 64 256" VALUES="64 1024" RUNS=3 OPS=200000 SECONDS_MAX=10 NOSYNC=0
#        FAILOVERS=7 BUILD=build-bench DIR=/tmp/caf-raft-bench/mp BASE=27101
#        NODE_OPTS="--scheduler.policy=sharing" (extra node options) CLIENT_OPTS (extra bench_raft options)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
what=${1:-load}
out=${2:-$here/results/multiproc-$what.jsonl}
BUILD=${BUILD:-$here/../build-bench}
INFLIGHT=${INFLIGHT:-"1 16 64 256"}
VALUES=${VALUES:-"64 1024"}
RUNS=${RUNS:-3}
OPS=${OPS:-200000}
SECONDS_MAX=${SECONDS_MAX:-10}
FAILOVERS=${FAILOVERS:-7}
DIR=${DIR:-/tmp/caf-raft-bench/mp}
BASE=${BASE:-27101}
node=$BUILD/caf-raft
bench=$BUILD/bench_raft
mkdir -p "$(dirname "$out")"
rm -rf "$DIR"; mkdir -p "$DIR"
members=""; eps=""
for i in 1 2 3; do
  members+="${members:+,}$i=127.0.0.1:$((BASE + i - 1))"
  eps+="${eps:+,}127.0.0.1:$((BASE + i - 1))"
done
extra=()
[ "${NOSYNC:-0}" = 1 ] && extra+=(--unsafe-no-sync)
read -r -a node_opts <<<"${NODE_OPTS:-}"; extra+=("${node_opts[@]}")
# The client runs one scheduler worker, as the CLI's client does (config/scheduler_tuning.hpp);
# CLIENT_OPTS come later and win.
read -r -a client_opts <<<"--scheduler.max-threads=1 ${CLIENT_OPTS:-}"
declare -A pid
start() {  # start node $1
  "$node" node --id="$1" --members="$members" --data-dir="$DIR/node-$1" "${extra[@]}" \
    >>"$DIR/node-$1.log" 2>&1 &
  pid[$1]=$!
}
cleanup() { for i in 1 2 3; do kill "${pid[$i]:-}" 2>/dev/null || true; done; wait 2>/dev/null || true; [ -n "${KEEP:-}" ] || rm -rf "$DIR"; }
trap cleanup EXIT
for i in 1 2 3; do start "$i"; done
pids() { echo "${pid[1]},${pid[2]},${pid[3]}"; }
sync_label=$([ "${NOSYNC:-0}" = 1 ] && echo off || echo on)
if [ "$what" = load ]; then
  for v in $VALUES; do
    for n in $INFLIGHT; do
      for r in $(seq "$RUNS"); do
        "$bench" --mode=remote --cluster="$eps" --pids="$(pids)" --inflight="$n" --value-size="$v" \
          --ops="$OPS" --seconds="$SECONDS_MAX" "${client_opts[@]}" \
          --label="sync=$sync_label run=$r ${NODE_OPTS:-}" | tee -a "$out"
      done
    done
  done
else
  for r in $(seq "$FAILOVERS"); do
    line=$("$bench" --mode=failover --cluster="$eps" --pids="$(pids)" --label="sync=$sync_label run=$r")
    echo "$line" | tee -a "$out"
    killed=$(echo "$line" | sed -n 's/.*"killed":\([0-9]*\).*/\1/p')
    wait "${pid[$killed]}" 2>/dev/null || true
    start "$killed"
    sleep 3  # let the restarted node reconnect and catch up
  done
fi
