package main

import (
	"os"
	"path/filepath"
	"testing"
)

func TestMemoryLimit(t *testing.T) {
	// tree makes a cgroup mount with the given files (path: content) and
	// a process whose membership file says self.
	tree := func(self string, files map[string]string) cgroups {
		dir := t.TempDir()
		cg := cgroups{root: filepath.Join(dir, "cgroup"), self: filepath.Join(dir, "self")}
		write := func(p, content string) {
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if self != "" {
			write(cg.self, self)
		}
		for name, content := range files {
			write(filepath.Join(cg.root, name), content)
		}
		return cg
	}
	const gib = 1 << 30
	limited := tree("0::/\n", map[string]string{"memory.max": "2147483648\n"})
	none := tree("", nil)

	f := func(setting string, cg cgroups, want int64) {
		t.Helper()
		m, err := parseMemoryLimit(setting)
		if err != nil {
			t.Fatalf("%q: %v", setting, err)
		}
		if got := m.resolve(cg); got != want {
			t.Fatalf("%q with %+v: %d bytes, want %d", setting, cg, got, want)
		}
	}
	f("1GiB", none, 1<<30)
	f("768MiB", limited, 768<<20)
	f("1.5 GiB", none, 3<<29)
	f("2GB", none, 2e9)
	f("off", limited, 0)
	f("0", none, 0)
	f("auto", none, 0)
	// cgroup v2 with the container's own namespace: its limit at the root.
	f("auto", limited, 2*gib*9/10)
	f("auto", tree("0::/\n", map[string]string{"memory.max": "max\n"}), 0)
	// cgroup v1, the container's cgroup mounted at the root (Docker).
	f("auto", tree("4:memory:/docker/abc\n0::/\n", map[string]string{"memory/memory.limit_in_bytes": "1073741824\n"}), gib*9/10)
	f("auto", tree("4:memory:/\n", map[string]string{"memory/memory.limit_in_bytes": "9223372036854771712\n"}), 0)
	// A systemd service under cgroup v2 (MemoryMax= on the unit, or on
	// its slice), and a process in a cgroup v1 memory group of its own,
	// neither namespaced: the limit is at the process's path or above.
	f("auto", tree("0::/system.slice/eventops.service\n", map[string]string{
		"system.slice/eventops.service/memory.max": "1073741824\n",
		"system.slice/memory.max":                  "max\n",
	}), gib*9/10)
	f("auto", tree("0::/system.slice/eventops.service\n", map[string]string{
		"system.slice/eventops.service/memory.max": "max\n",
		"system.slice/memory.max":                  "2147483648\n",
	}), 2*gib*9/10)
	f("auto", tree("12:pids:/x\n4:memory:/process_api/abc\n0::/\n", map[string]string{
		"memory/memory.limit_in_bytes":                 "9223372036854771712\n",
		"memory/process_api/abc/memory.limit_in_bytes": "536870912\n",
	}), gib/2*9/10)

	for _, bad := range []string{"lots", "1TB", "-1GiB", "1 gigabyte", "10MiB", "0B"} {
		if _, err := parseMemoryLimit(bad); err == nil {
			t.Errorf("%q was taken", bad)
		}
	}
	if _, err := loadConfig(t, []string{"--memory-limit", "lots"}, []string{"memory_limit"}); err == nil {
		t.Error("a bad memory_limit passed the configuration's checks")
	}
}
