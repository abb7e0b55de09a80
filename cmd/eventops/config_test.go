package main

import (
	"bytes"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func loadConfig(t *testing.T, args []string, keys []string) (*Config, error) {
	t.Helper()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var c Config
	_, err := c.load(fs, args, keys)
	return &c, err
}

func TestConfigPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "eventops.yml")
	if err := os.WriteFile(file, []byte("http_addr: ':7000'\nflush_interval: 7s\nbatch_rows: 700\nstages: [ingest, sink]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("EVENTOPS_CONFIG", file)
	t.Setenv("EVENTOPS_FLUSH_INTERVAL", "8s")
	t.Setenv("EVENTOPS_BATCH_ROWS", "800")
	keys := []string{"http_addr", "flush_interval", "batch_rows", "stages", "session_timeout"}
	c, err := loadConfig(t, []string{"--batch-rows", "900"}, keys)
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTPAddr != ":7000" { // file over default
		t.Errorf("http_addr %q", c.HTTPAddr)
	}
	if c.Flush != 8*time.Second { // env over file
		t.Errorf("flush_interval %s", c.Flush)
	}
	if c.BatchRows != 900 { // flag over env
		t.Errorf("batch_rows %d", c.BatchRows)
	}
	if strings.Join(c.Stages, ",") != "ingest,sink" {
		t.Errorf("stages %v", c.Stages)
	}
	if c.Session != 6*time.Second { // default
		t.Errorf("session_timeout %s", c.Session)
	}
}

func TestConfigErrorsNameTheKey(t *testing.T) {
	keys := []string{"stages", "partitions", "rebalance_timeout", "log_format", "heartbeat_interval", "session_timeout"}
	_, err := loadConfig(t, []string{"--stages", "ingest,bogus", "--partitions", "0", "--rebalance-timeout", "5s", "--log-format", "xml",
		"--heartbeat-interval", "20s"}, keys)
	if err == nil {
		t.Fatal("accepted a bad configuration")
	}
	for _, want := range []string{`stages: unknown stage "bogus"`, "partitions: 0 is out of range", "rebalance_timeout: 5s is too close",
		`log_format: "xml" is not text or json`, "heartbeat_interval: 20s must be shorter than session_timeout"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if _, err := loadConfig(t, []string{"--backtest-max-range", "10m", "--backtest-max-samples", "0"}, []string{"backtest_max_range", "backtest_max_samples"}); err == nil ||
		!strings.Contains(err.Error(), "backtest_max_range: 10m0s is shorter than 1h") || !strings.Contains(err.Error(), "backtest_max_samples: must be positive") {
		t.Errorf("bad backtest bounds: %v", err)
	}
	t.Setenv("EVENTOPS_FLUSH_INTERVAL", "soon")
	if _, err := loadConfig(t, nil, []string{"flush_interval"}); err == nil || !strings.Contains(err.Error(), "flush_interval (from EVENTOPS_FLUSH_INTERVAL)") {
		t.Errorf("bad env value: %v", err)
	}
	file := filepath.Join(t.TempDir(), "c.yml")
	_ = os.WriteFile(file, []byte("http_addr: ':1'\nhttp_adr: ':2'\n"), 0o644)
	if _, err := loadConfig(t, []string{"--config", file}, []string{"http_addr"}); err == nil || !strings.Contains(err.Error(), `c.yml:2: unknown key "http_adr"`) {
		t.Errorf("unknown YAML key: %v", err)
	}
}

func TestHelpEverywhere(t *testing.T) {
	for _, c := range commands() {
		var out, errOut bytes.Buffer
		if code := realMain([]string{c.name, "--help"}, &out, &errOut); code != 0 {
			t.Errorf("%s --help exited %d: %s", c.name, code, errOut.String())
		}
		if !strings.Contains(errOut.String(), "usage: eventops "+c.name) {
			t.Errorf("%s --help printed %q", c.name, errOut.String())
		}
	}
	var out, errOut bytes.Buffer
	if code := realMain([]string{"--help"}, &out, &errOut); code != 0 || !strings.Contains(out.String(), "commands:") {
		t.Errorf("eventops --help: %d %s", code, out.String())
	}
	if code := realMain([]string{"frobnicate"}, &out, &errOut); code != 2 {
		t.Errorf("unknown command exited %d", code)
	}
}
