#!/usr/bin/env bash
# Runs every issue-#7 measurement in sequence into bench/results/ and redraws the chart.
# env: RUNS (3), OPS (100000), SECONDS_MAX (5): forwarded to the scripts below.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export RUNS=${RUNS:-3} OPS=${OPS:-100000} SECONDS_MAX=${SECONDS_MAX:-5}
r=$here/results; mkdir -p "$r"
"$here/bench_inproc.sh" "$r/inproc.jsonl"
"$here/bench_multiproc.sh" load "$r/multiproc.jsonl"
NOSYNC=1 VALUES=64 "$here/bench_multiproc.sh" load "$r/multiproc.jsonl"
# The same clients through raft::proposer (actors/proposer.hpp): concurrent requests share messages.
CLIENT_OPTS=--batches=4 "$here/bench_multiproc.sh" load "$r/multiproc-batched.jsonl"
NOSYNC=1 VALUES=64 CLIENT_OPTS=--batches=4 "$here/bench_multiproc.sh" load "$r/multiproc-batched.jsonl"
"$here/bench_multiproc.sh" failover "$r/failover.jsonl"
"$here/bench_etcd.sh" "$r/etcd.jsonl"
"$here/../build-bench/bench_raft" --mode=recovery --no-sync --entries=1000000 | tee -a "$r/recovery.jsonl"
for run in $(seq "$RUNS"); do
  "$here/../build-bench/bench_raft" --mode=snapshot --state-mb=256 --value-size=1024 | tee -a "$r/snapshot.jsonl"
done
"$here/plot.sh"
