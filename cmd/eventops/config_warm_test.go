package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// warm_start is a boolean setting like any other: a YAML key, an
// environment variable and a flag that stands alone, off by default, with
// its bounds checked by name.
func TestWarmStartSettings(t *testing.T) {
	keys := []string{"warm_start", "warm_start_max_samples", "warm_start_timeout", "warm_start_concurrency"}
	c, err := loadConfig(t, nil, keys)
	if err != nil || c.WarmStart || c.WarmMaxSamples != 100_000 || c.WarmTimeout != 10*time.Second || c.WarmInFlight != 4 {
		t.Fatalf("defaults: %+v %v", c, err)
	}
	if c, err = loadConfig(t, []string{"--warm-start", "--warm-start-timeout", "3s"}, keys); err != nil || !c.WarmStart || c.WarmTimeout != 3*time.Second {
		t.Fatalf("flags: warm_start %v, timeout %s, %v", c.WarmStart, c.WarmTimeout, err)
	}
	file := filepath.Join(t.TempDir(), "c.yml")
	if err := os.WriteFile(file, []byte("warm_start: true\nwarm_start_concurrency: 2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if c, err = loadConfig(t, []string{"--config", file}, keys); err != nil || !c.WarmStart || c.WarmInFlight != 2 {
		t.Fatalf("file: warm_start %v, concurrency %d, %v", c.WarmStart, c.WarmInFlight, err)
	}
	t.Setenv("EVENTOPS_WARM_START", "false")
	if c, err = loadConfig(t, []string{"--config", file}, keys); err != nil || c.WarmStart {
		t.Fatalf("env over file: warm_start %v, %v", c.WarmStart, err)
	}
	t.Setenv("EVENTOPS_WARM_START", "sometimes")
	_, err = loadConfig(t, []string{"--warm-start-concurrency", "0", "--warm-start-timeout", "0s"}, keys)
	for _, want := range []string{`warm_start (from EVENTOPS_WARM_START): "sometimes" is not true or false`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	t.Setenv("EVENTOPS_WARM_START", "true")
	_, err = loadConfig(t, []string{"--warm-start-concurrency", "0", "--warm-start-timeout", "0s"}, keys)
	for _, want := range []string{"warm_start_concurrency: 0 is out of range", "warm_start_timeout: must be positive"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	for _, cmd := range commands() {
		if (cmd.name == "dev" || cmd.name == "run") && !strings.Contains(strings.Join(cmd.keys, ","), "warm_start_timeout") {
			t.Errorf("%s does not read warm_start", cmd.name)
		}
	}
}
