#!/usr/bin/env python3
# Reduces bench/results/*.jsonl (bench_raft and etcd-loadgen lines) to medians per configuration:
# prints a Markdown table and writes bench/results/chart.dat for bench/plot.sh.
import json, re, statistics, sys, glob, os, collections

here = os.path.dirname(os.path.abspath(__file__))
files = sys.argv[1:] or sorted(glob.glob(os.path.join(here, "results", "*.jsonl")))
groups = collections.OrderedDict()
for f in files:
    for line in open(f):
        line = line.strip()
        if not line.startswith("{"):
            continue
        # Older bench_raft builds did not escape quotes inside first_error.
        line = re.sub(r'"first_error":"[^}]*?","(peak_rss_kb|client_peak_rss_kb)', r'"\1', line)
        r = json.loads(line)
        m = r.get("mode")
        if m == "inproc":
            sysname, sync = "caf-raft in-process", "on" if r["sync"] else "off"
        elif m == "remote":
            sysname, sync = "caf-raft 3 processes", "off" if "sync=off" in r.get("label", "") else "on"
            if r.get("batches", 0) > 0:
                sysname += f" batching client ({r['batches']} batches)"
        elif m == "etcd":
            sysname, sync = "etcd 3.4.23 3 processes", "on"
        else:
            continue
        if "policy=sharing" in r.get("label", ""):
            sysname += " sched=sharing"
        elif "work-stealing." in r.get("label", ""):
            sysname += " sched=tuned-stealing"
        groups.setdefault((sysname, sync, r["value"], r["inflight"]), []).append(r)

def med(rs, k):
    xs = [r[k] for r in rs if k in r]
    return statistics.median(xs) if xs else float("nan")

print("| system | sync | value B | in flight | runs | ops/s | p50 µs | p99 µs | p999 µs | CPU µs/write (all) | peak RSS MB (max node / process) |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
dat = collections.defaultdict(list)
for (s, sync, v, n), rs in groups.items():
    if "nodes" in rs[0]:
        rss = max(max(x["hwm_kb"] for x in r["nodes"]) for r in rs) / 1024
    else:
        rss = max(r["peak_rss_kb"] for r in rs) / 1024
    row = (med(rs, "ops_per_s"), med(rs, "p50_us"), med(rs, "p99_us"), med(rs, "p999_us"),
           med(rs, "total_cpu_us_per_op"))
    print(f"| {s} | {sync} | {v} | {n} | {len(rs)} | {row[0]:,.0f} | {row[1]:,.0f} | {row[2]:,.0f} | {row[3]:,.0f} | {row[4]:.1f} | {rss:.0f} |")
    dat[(s, sync, v)].append((n, row[0], row[2]))
with open(os.path.join(here, "results", "chart.dat"), "w") as out:
    for (s, sync, v), pts in dat.items():
        out.write(f'# "{s}, sync {sync}, {v} B"\n')
        for n, ops, p99 in sorted(pts):
            out.write(f"{n} {ops:.0f} {p99/1000:.3f}\n")
        out.write("\n\n")
