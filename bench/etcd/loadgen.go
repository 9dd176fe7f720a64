// Closed-loop etcd v3 load generator for bench/bench_etcd.sh: N puts in flight to the leader,
// 16-byte keys, fixed-size values; prints one JSON line shaped like bench_raft's output.
package main

import (
	"context"
	"flag"
	"fmt"
	"io/ioutil"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.etcd.io/etcd/clientv3"
)

func pidCPU(pid int) float64 { // seconds of utime+stime
	b, err := ioutil.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return -1
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndex(s, ")")+2:])
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100.0 // CLK_TCK is 100 on Linux
}

func pidHWM(pid int) int {
	b, err := ioutil.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmHWM:") {
			v, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(l, "VmHWM:"), "kB")))
			return v
		}
	}
	return -1
}

func selfCPU() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)/1e6
}

func pct(v []time.Duration, q float64) float64 {
	if len(v) == 0 {
		return 0
	}
	k := int(q * float64(len(v)))
	if k >= len(v) {
		k = len(v) - 1
	}
	return float64(v[k].Nanoseconds()) / 1e3
}

func main() {
	endpoints := flag.String("endpoints", "127.0.0.1:2379", "comma-separated client URLs (host:port)")
	inflight := flag.Int("inflight", 64, "requests in flight")
	valueSize := flag.Int("value-size", 64, "value bytes (key is 16 bytes)")
	ops := flag.Int("ops", 200000, "measured operations (upper bound)")
	warmup := flag.Int("warmup", 0, "unmeasured operations first (default ops/10)")
	seconds := flag.Float64("seconds", 10, "measured window (upper bound)")
	keyspace := flag.Int("keyspace", 100000, "distinct keys")
	pids := flag.String("pids", "", "comma-separated etcd member pids")
	label := flag.String("label", "", "free text copied to the output")
	flag.Parse()
	if *warmup == 0 {
		*warmup = *ops / 10
		if *warmup < *inflight {
			*warmup = *inflight
		}
	}
	eps := strings.Split(*endpoints, ",")
	// Find the leader and talk to it only.
	probe, err := clientv3.New(clientv3.Config{Endpoints: eps, DialTimeout: 5 * time.Second})
	if err != nil {
		fmt.Fprintln(os.Stderr, "connect:", err)
		os.Exit(1)
	}
	leaderEP := ""
	for try := 0; try < 100 && leaderEP == ""; try++ {
		for _, ep := range eps {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			st, err := probe.Status(ctx, ep)
			cancel()
			if err == nil && st.Leader == st.Header.MemberId {
				leaderEP = ep
			}
		}
		if leaderEP == "" {
			time.Sleep(100 * time.Millisecond)
		}
	}
	probe.Close()
	if leaderEP == "" {
		fmt.Fprintln(os.Stderr, "no leader")
		os.Exit(1)
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{leaderEP}, DialTimeout: 5 * time.Second})
	if err != nil {
		fmt.Fprintln(os.Stderr, "connect:", err)
		os.Exit(1)
	}
	defer cli.Close()
	var pidList []int
	for _, p := range strings.Split(*pids, ",") {
		if n, err := strconv.Atoi(p); err == nil {
			pidList = append(pidList, n)
		}
	}
	value := strings.Repeat("v", *valueSize)
	total := int64(*warmup + *ops)
	var issued, completed, errors int64
	var windowOnce sync.Once
	var tStart time.Time
	var deadline atomic.Value
	deadline.Store(time.Now().Add(time.Hour))
	var cpuStart float64
	nodeStart := make([]float64, len(pidList))
	openWindow := func() {
		windowOnce.Do(func() {
			cpuStart = selfCPU()
			for i, p := range pidList {
				nodeStart[i] = pidCPU(p)
			}
			tStart = time.Now()
			deadline.Store(tStart.Add(time.Duration(*seconds * float64(time.Second))))
		})
	}
	var inWindow int32
	tBegin := time.Now()
	lats := make([][]time.Duration, *inflight)
	var wg sync.WaitGroup
	for w := 0; w < *inflight; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for {
				i := atomic.AddInt64(&issued, 1) - 1
				if i >= total || time.Now().After(deadline.Load().(time.Time)) || atomic.LoadInt64(&errors) > 1000 {
					return
				}
				counted := atomic.LoadInt32(&inWindow) == 1
				key := fmt.Sprintf("%016d", (uint64(i)*2654435761)%uint64(*keyspace))
				t0 := time.Now()
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				_, err := cli.Put(ctx, key, value)
				cancel()
				d := time.Since(t0)
				if err != nil {
					atomic.AddInt64(&errors, 1)
					continue
				}
				c := atomic.AddInt64(&completed, 1)
				if counted {
					lats[w] = append(lats[w], d)
				}
				// The window opens after `warmup` completions or one second, whichever is first.
				if c == int64(*warmup) || (atomic.LoadInt32(&inWindow) == 0 && time.Since(tBegin) >= time.Second) {
					openWindow()
					atomic.StoreInt32(&inWindow, 1)
				}
			}
		}(w)
	}
	wg.Wait()
	tEnd := time.Now()
	cpu := selfCPU() - cpuStart
	var all []time.Duration
	for _, l := range lats {
		all = append(all, l...)
	}
	sort.Slice(all, func(a, b int) bool { return all[a] < all[b] })
	n := float64(len(all))
	if n == 0 {
		n = 1
	}
	secs := tEnd.Sub(tStart).Seconds()
	nodesCPU := 0.0
	per := []string{}
	for i, p := range pidList {
		c := pidCPU(p) - nodeStart[i]
		nodesCPU += c
		per = append(per, fmt.Sprintf("{\"pid\":%d,\"cpu_s\":%.3f,\"hwm_kb\":%d}", p, c, pidHWM(p)))
	}
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	fmt.Printf("{\"mode\":\"etcd\",\"inflight\":%d,\"value\":%d,\"leader\":\"%s\",\"ops\":%d,\"errors\":%d,\"secs\":%.3f,"+
		"\"ops_per_s\":%.0f,\"p50_us\":%.1f,\"p99_us\":%.1f,\"p999_us\":%.1f,\"client_cpu_us_per_op\":%.2f,"+
		"\"nodes_cpu_us_per_op\":%.2f,\"total_cpu_us_per_op\":%.2f,\"nodes\":[%s],\"client_peak_rss_kb\":%d,\"label\":\"%s\"}\n",
		*inflight, *valueSize, leaderEP, len(all), errors, secs, float64(len(all))/secs,
		pct(all, 0.5), pct(all, 0.99), pct(all, 0.999), cpu*1e6/n, nodesCPU*1e6/n, (nodesCPU+cpu)*1e6/n,
		strings.Join(per, ","), ru.Maxrss, *label)
}
