#!/usr/bin/env bash
# Peer baseline for issue #7: starts a 3-member etcd cluster (Debian etcd-server) on loopback and
# drives it with bench/etcd/loadgen.go (closed loop, N puts in flight to the leader).
# Usage: bench/bench_etcd.sh [out.jsonl]   env: INFLIGHT="1 16 64 256" VALUES="64 1024" RUNS=3
#        OPS=200000 SECONDS_MAX=10 DIR=/tmp/caf-raft-bench/etcd BASE=23790
# (etcd 3.4.23 has no --unsafe-no-fsync, so etcd is measured with fsync on only.)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/results/etcd.jsonl}
INFLIGHT=${INFLIGHT:-"1 16 64 256"}
VALUES=${VALUES:-"64 1024"}
RUNS=${RUNS:-3}
OPS=${OPS:-200000}
SECONDS_MAX=${SECONDS_MAX:-10}
DIR=${DIR:-/tmp/caf-raft-bench/etcd}
BASE=${BASE:-23790}
sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
need=()
command -v etcd >/dev/null || need+=(etcd-server)
command -v go >/dev/null || need+=(golang-go)
[ -d /usr/share/gocode/src/go.etcd.io/etcd/clientv3 ] || need+=(golang-etcd-server-dev)
if [ ${#need[@]} -gt 0 ]; then
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}"
fi
bin=$here/../build-bench/etcd-loadgen
mkdir -p "$(dirname "$bin")" "$(dirname "$out")"
if [ ! -x "$bin" ] || [ "$here/etcd/loadgen.go" -nt "$bin" ]; then
  (cd "$here/etcd" && GOPATH=/usr/share/gocode GO111MODULE=off GOCACHE=${GOCACHE:-/tmp/caf-raft-bench/gocache} \
     go build -o "$bin" loadgen.go)
fi
rm -rf "$DIR"; mkdir -p "$DIR"
cluster=""
for i in 1 2 3; do cluster+="${cluster:+,}e$i=http://127.0.0.1:$((BASE + 2*i + 1))"; done
pids=(); eps=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; [ -n "${KEEP:-}" ] || rm -rf "$DIR"; }
trap cleanup EXIT
for i in 1 2 3; do
  c=$((BASE + 2*i)); p=$((BASE + 2*i + 1))
  etcd --name "e$i" --data-dir "$DIR/e$i" \
    --listen-client-urls "http://127.0.0.1:$c" --advertise-client-urls "http://127.0.0.1:$c" \
    --listen-peer-urls "http://127.0.0.1:$p" --initial-advertise-peer-urls "http://127.0.0.1:$p" \
    --initial-cluster "$cluster" --initial-cluster-state new --initial-cluster-token bench \
    --logger zap --log-level error  >"$DIR/e$i.log" 2>&1 &
  pids+=($!); eps+=("127.0.0.1:$c")
done
sleep 3
ep=$(IFS=,; echo "${eps[*]}"); pl=$(IFS=,; echo "${pids[*]}")
for v in $VALUES; do
  for n in $INFLIGHT; do
    for r in $(seq "$RUNS"); do
      "$bin" -endpoints "$ep" -pids "$pl" -inflight "$n" -value-size "$v" -ops "$OPS" \
        -seconds "$SECONDS_MAX" -label "fsync=on run=$r" | tee -a "$out"
    done
  done
done
