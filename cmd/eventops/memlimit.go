package main

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
)

// memoryLimit is what memory_limit says: a size in bytes, none (0), or, for
// auto, the limit of the process's cgroup.
type memoryLimit struct {
	bytes int64
	auto  bool
}

// cgroups says where the process's memory limit is read: the cgroup
// file systems' mount point and the process's cgroup membership file.
type cgroups struct {
	root, self string
}

// hostCgroups is where Linux has them.
var hostCgroups = cgroups{root: "/sys/fs/cgroup", self: "/proc/self/cgroup"}

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
// limit of the process's cgroup when there is one, else none.
func (m memoryLimit) resolve(cg cgroups) int64 {
	if !m.auto {
		return m.bytes
	}
	if n := cg.limit(); n > 0 {
		return int64(float64(n) * autoShare)
	}
	return 0
}

// limit returns the lowest memory limit of the process's cgroup and the
// cgroups above it, in either hierarchy (v2: memory.max, v1: the memory
// controller's memory.limit_in_bytes), 0 for none. A container that has
// its own cgroup namespace, or its cgroup mounted at the root (Docker on
// v1), sees its limit at the root; a systemd service (MemoryMax=) or a
// container without either sees it at its path, or at a parent slice's.
func (cg cgroups) limit() int64 {
	v2, v1 := "/", "/"
	if b, err := os.ReadFile(cg.self); err == nil {
		for line := range strings.Lines(string(b)) {
			// hierarchy-ID:controllers:path
			parts := strings.SplitN(strings.TrimSpace(line), ":", 3)
			if len(parts) != 3 {
				continue
			}
			switch {
			case parts[0] == "0" && parts[1] == "":
				v2 = parts[2]
			case slices.Contains(strings.Split(parts[1], ","), "memory"):
				v1 = parts[2]
			}
		}
	}
	var lowest int64
	read := func(top, path, name string) {
		for dir := filepath.Join(top, filepath.Clean("/"+path)); ; dir = filepath.Dir(dir) {
			b, err := os.ReadFile(filepath.Join(dir, name))
			n, perr := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
			// "max" (v2) and a page-rounded huge number (v1) mean no limit.
			if err == nil && perr == nil && n > 0 && n < 1<<60 && (lowest == 0 || n < lowest) {
				lowest = n
			}
			if len(dir) <= len(top) {
				return
			}
		}
	}
	read(cg.root, v2, "memory.max")
	read(filepath.Join(cg.root, "memory"), v1, "memory.limit_in_bytes")
	return lowest
}

// applyMemoryLimit sets the Go runtime's soft memory limit from
// memory_limit. A GOMEMLIMIT in the environment wins over auto.
func applyMemoryLimit(s string) {
	m, err := parseMemoryLimit(s)
	if err != nil || m.auto && os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	if b := m.resolve(hostCgroups); b > 0 {
		debug.SetMemoryLimit(b)
	} else {
		debug.SetMemoryLimit(math.MaxInt64)
	}
}
