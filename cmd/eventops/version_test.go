package main

import (
	"runtime/debug"
	"testing"
)

func TestBuildVersion(t *testing.T) {
	f := func(v string, settings map[string]string, want string) {
		t.Helper()
		info := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: v}}
		for k, v := range settings {
			info.Settings = append(info.Settings, debug.BuildSetting{Key: k, Value: v})
		}
		if got := buildVersion(info); got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
	f("(devel)", nil, "devel (go1.26.8)")
	f("v1.2.3", nil, "v1.2.3 (go1.26.8)")
	f("v0.0.0-20261206041711-0413b84abcde+dirty", map[string]string{
		"vcs.revision": "0413b84abcde0123456789", "vcs.time": "2026-12-06T04:17:11Z", "vcs.modified": "true"},
		"v0.0.0-20261206041711-0413b84abcde+dirty (commit 0413b84abcde, 2026-12-06T04:17:11Z, with uncommitted changes, go1.26.8)")
}
