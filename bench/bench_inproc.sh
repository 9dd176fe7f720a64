#!/usr/bin/env bash
# caf-raft in-process benchmark (issue #7): 3 nodes in one actor_system via the embedding API,
# driven by bench_raft --mode=inproc for each sync setting, value size and in-flight count.
# Usage: bench/bench_inproc.sh [out.jsonl]
#   env: INFLIGHT="1 16 64 256" VALUES="64 1024" SYNCS="on off" RUNS=3 OPS=200000 SECONDS_MAX=10
#        OPTS="--scheduler.policy=sharing" (extra bench_raft / CAF options)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/results/inproc.jsonl}
BUILD=${BUILD:-$here/../build-bench}
INFLIGHT=${INFLIGHT:-"1 16 64 256"}
VALUES=${VALUES:-"64 1024"}
SYNCS=${SYNCS:-"on off"}
RUNS=${RUNS:-3}
OPS=${OPS:-200000}
SECONDS_MAX=${SECONDS_MAX:-10}
DIR=${DIR:-/tmp/caf-raft-bench}
mkdir -p "$(dirname "$out")" "$DIR"
for s in $SYNCS; do
  flag=(); [ "$s" = off ] && flag=(--no-sync)
  read -r -a opts <<<"${OPTS:-}"; flag+=("${opts[@]}")
  for v in $VALUES; do
    for n in $INFLIGHT; do
      for r in $(seq "$RUNS"); do
        "$BUILD/bench_raft" --mode=inproc --dir="$DIR" "${flag[@]}" --inflight="$n" --value-size="$v" \
          --ops="$OPS" --seconds="$SECONDS_MAX" --label="run=$r ${OPTS:-} load=$(cut -d' ' -f1 /proc/loadavg)" | tee -a "$out"
      done
    done
  done
done
