#!/usr/bin/env bash
# Draws bench/results/chart.svg from bench/results/*.jsonl: throughput and p99 latency against
# in-flight requests, caf-raft and etcd on the same axes (64-byte values, default scheduler only).
# Needs gnuplot-nox.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
command -v gnuplot >/dev/null || { s=""; [ "$(id -u)" = 0 ] || s=sudo; $s apt-get install -y -qq gnuplot-nox; }
python3 "$here/summarize.py" >/dev/null
dat=$here/results/chart.dat
# One gnuplot index per (system, sync, value) block; keep the 64-byte ones.
mapfile -t names < <(grep '^# ' "$dat" | sed 's/^# "\(.*\)"$/\1/')
plots1=(); plots2=()
for i in "${!names[@]}"; do
  case "${names[$i]}" in *sched=*) continue ;; *", 64 B") ;; *) continue ;; esac
  t=${names[$i]%, 64 B}
  plots1+=("'$dat' index $i using 1:2 with linespoints title '$t'")
  plots2+=("'$dat' index $i using 1:3 with linespoints title '$t'")
done
IFS=,
gnuplot <<GP
set terminal svg size 1100,480 dynamic font 'sans,11'
set output '$here/results/chart.svg'
set multiplot layout 1,2 title 'caf-raft vs etcd, 3 nodes on loopback, 16 B keys / 64 B values ($(nproc) cores)'
set logscale x 2; set xtics (1,16,64,256); set grid
set key top left font ',9'
set xlabel 'requests in flight'; set ylabel 'committed writes/s'; set logscale y
plot ${plots1[*]}
set ylabel 'p99 latency (ms)'; set key top left
plot ${plots2[*]}
unset multiplot
GP
echo "wrote $here/results/chart.svg"
