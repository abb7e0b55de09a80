package main

import (
	"os"
	"path/filepath"
	"testing"
)

func TestMemoryLimit(t *testing.T) {
	dir := t.TempDir()
	file := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	limited := file("limited", "2147483648\n")
	unlimited := file("unlimited", "max\n")
	v1unlimited := file("v1", "9223372036854771712\n")
	missing := filepath.Join(dir, "missing")

	f := func(setting string, files []string, want int64) {
		t.Helper()
		m, err := parseMemoryLimit(setting)
		if err != nil {
			t.Fatalf("%q: %v", setting, err)
		}
		if got := m.resolve(files); got != want {
			t.Fatalf("%q with %v: %d bytes, want %d", setting, files, got, want)
		}
	}
	f("1GiB", nil, 1<<30)
	f("768MiB", []string{limited}, 768<<20)
	f("1.5 GiB", nil, 3<<29)
	f("2GB", nil, 2e9)
	f("off", []string{limited}, 0)
	f("0", nil, 0)
	f("auto", []string{limited}, 2147483648*9/10)
	f("auto", []string{missing, limited}, 2147483648*9/10)
	f("auto", []string{unlimited, limited}, 0)
	f("auto", []string{v1unlimited}, 0)
	f("auto", []string{missing}, 0)

	for _, bad := range []string{"lots", "1TB", "-1GiB", "1 gigabyte", "10MiB", "0B"} {
		if _, err := parseMemoryLimit(bad); err == nil {
			t.Errorf("%q was taken", bad)
		}
	}
	if _, err := loadConfig(t, []string{"--memory-limit", "lots"}, []string{"memory_limit"}); err == nil {
		t.Error("a bad memory_limit passed the configuration's checks")
	}
}
