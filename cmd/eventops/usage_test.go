package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A command line that cannot run says why in a line or two and where the
// flags are listed; a failed rule check says nothing beyond its findings.
func TestErrorsStayShort(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.yml")
	if err := os.WriteFile(bad, []byte("groups: [{name: x, rules: [{alert: A, expr: \"nope(\"}]}]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"run"}, 2, "--brokers is required"},
		{[]string{"migrate"}, 2, "--database-url"},
		{[]string{"run", "--bogus"}, 2, "-bogus"},
		{[]string{"bench", "--latency-load", "0"}, 2, "--latency-load must be above 0"},
		{[]string{"bench", "--latency-load", "1.5"}, 2, "--latency-load must be above 0"},
		{[]string{"rules", "check", bad}, 1, ""}, // its findings go to the process's stderr
	} {
		var out, errOut bytes.Buffer
		code := realMain(c.args, &out, &errOut)
		lines := strings.Split(strings.TrimSpace(errOut.String()), "\n")
		if code != c.code || !strings.Contains(errOut.String(), c.want) || len(lines) > 3 || strings.Contains(errOut.String(), "level=ERROR") {
			t.Errorf("%v: exit %d, stderr:\n%s", c.args, code, errOut.String())
		}
	}
}
