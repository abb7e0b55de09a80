package main

import (
	"fmt"
	"math"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// memoryLimit is what memory_limit says: a size in bytes, none (0), or, for
// auto, the container's limit read from cgroupFiles.
type memoryLimit struct {
	bytes int64
	auto  bool
}

// cgroupFiles hold a container's memory limit: cgroup v2, then v1.
var cgroupFiles = []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"}

// autoShare is the part of a container's memory limit the Go runtime aims
// to stay under: the rest is for what it does not count (goroutine
// stacks' slack, C allocations, the kernel's page cache of LevelDB's
// files is not ours but shares the limit).
const autoShare = 0.9

// parseMemoryLimit reads memory_limit: auto, off (or 0), or a size with a
// unit (B, KiB, MiB, GiB; KB, MB, GB are decimal).
func parseMemoryLimit(s string) (memoryLimit, error) {
	s = strings.TrimSpace(s)
	switch strings.ToLower(s) {
	case "auto", "":
		return memoryLimit{auto: true}, nil
	case "off", "0":
		return memoryLimit{}, nil
	}
	units := []struct {
		suffix string
		mult   float64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1}}
	for _, u := range units {
		num, ok := strings.CutSuffix(s, u.suffix)
		if !ok {
			continue
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
		if err != nil || f < 0 || math.IsInf(f, 0) || math.IsNaN(f) {
			break
		}
		if b := f * u.mult; b < 64<<20 {
			return memoryLimit{}, fmt.Errorf("%q is less than 64MiB", s)
		} else if b < math.MaxInt64 {
			return memoryLimit{bytes: int64(b)}, nil
		}
		break
	}
	return memoryLimit{}, fmt.Errorf("%q is not auto, off or a size like 1GiB or 512MiB", s)
}

// resolve returns the limit in bytes, 0 for none: auto is autoShare of the
// container's limit when there is one (read from files), else none.
func (m memoryLimit) resolve(files []string) int64 {
	if !m.auto {
		return m.bytes
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		// "max" (v2) and a page-rounded huge number (v1) mean no limit.
		if err != nil || n <= 0 || n >= 1<<60 {
			return 0
		}
		return int64(float64(n) * autoShare)
	}
	return 0
}

// applyMemoryLimit sets the Go runtime's soft memory limit from
// memory_limit. A GOMEMLIMIT in the environment wins over auto.
func applyMemoryLimit(s string) {
	m, err := parseMemoryLimit(s)
	if err != nil || m.auto && os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	if b := m.resolve(cgroupFiles); b > 0 {
		debug.SetMemoryLimit(b)
	} else {
		debug.SetMemoryLimit(math.MaxInt64)
	}
}
