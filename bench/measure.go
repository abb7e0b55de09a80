package bench

import (
	"bufio"
	"context"
	"os"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// CPU returns the CPU time (user + system) this process has used.
func CPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// ProcessCPU returns the CPU time of the processes whose command name is
// name (e.g. "postgres"), from /proc: the database's share of a run.
func ProcessCPU(name string) time.Duration {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	hz := 100.0 // USER_HZ on Linux
	var total float64
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(b)
		open, closing := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || closing < open || s[open+1:closing] != name {
			continue
		}
		f := strings.Fields(s[closing+1:])
		if len(f) < 13 {
			continue
		}
		ut, _ := strconv.ParseFloat(f[11], 64)
		st, _ := strconv.ParseFloat(f[12], 64)
		total += (ut + st) / hz
	}
	return time.Duration(total * float64(time.Second))
}

// PidCPU returns the CPU time a process has used so far.
func PidCPU(pid int) time.Duration {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return time.Duration((ut + st) / 100 * float64(time.Second))
}

// PidRSS returns the resident memory of a process.
func PidRSS(pid int) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb * 1024
		}
	}
	return 0
}

// PeakRSS returns the peak resident memory of this process (VmHWM).
func PeakRSS() int64 { return statusKB("VmHWM:") * 1024 }

// HeapObjects returns the bytes of the Go heap's objects, live and not yet
// collected: what the RSS holds for Go's heap, beside its free pages.
func HeapObjects() int64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return int64(s[0].Value.Uint64())
}

// RSS returns the current resident memory of this process (VmRSS).
func RSS() int64 { return statusKB("VmRSS:") * 1024 }

func statusKB(field string) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), field); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb
		}
	}
	return 0
}

// Percentiles returns the p-quantiles (0..1) of ds, nearest rank.
func Percentiles(ds []time.Duration, ps ...float64) []time.Duration {
	out := make([]time.Duration, len(ps))
	if len(ds) == 0 {
		return out
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	for i, p := range ps {
		k := int(p*float64(len(s))+0.5) - 1
		out[i] = s[max(0, min(len(s)-1, k))]
	}
	return out
}

// MemorySample is this process's memory at a moment of a run.
type MemorySample struct {
	// At is the time since sampling began.
	At  time.Duration `json:"at_ns"`
	RSS int64         `json:"rss_bytes"`
	// HeapLive is the heap the last collection found live; HeapInUse the
	// heap's objects now, live or not yet collected.
	HeapLive  int64 `json:"heap_live_bytes"`
	HeapInUse int64 `json:"heap_in_use_bytes"`
	// Actors is how many per-source actors were in memory.
	Actors int64 `json:"source_actors"`
}

// sampleMemory samples this process's memory, and the source actors in
// reg, every interval until ctx ends, then sends the samples.
func sampleMemory(ctx context.Context, every time.Duration, reg prometheus.Gatherer) <-chan []MemorySample {
	out := make(chan []MemorySample, 1)
	go func() {
		var samples []MemorySample
		defer func() { out <- samples }()
		heap := []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/memory/classes/heap/objects:bytes"}}
		start := time.Now()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-t.C:
				metrics.Read(heap)
				samples = append(samples, MemorySample{At: now.Sub(start), RSS: RSS(),
					HeapLive: int64(heap[0].Value.Uint64()), HeapInUse: int64(heap[1].Value.Uint64()),
					Actors: int64(Sum(reg, "eventops_source_actors", nil))})
			}
		}
	}()
	return out
}
