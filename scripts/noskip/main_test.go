package main

import (
	"strings"
	"testing"
)

func TestReport(t *testing.T) {
	const (
		pass = `{"Action":"start","Package":"p"}
{"Action":"run","Package":"p","Test":"TestA"}
{"Action":"output","Package":"p","Test":"TestA","Output":"=== RUN   TestA\n"}
{"Action":"output","Package":"p","Test":"TestA","Output":"    a_test.go:9: quiet\n"}
{"Action":"output","Package":"p","Test":"TestA","Output":"--- PASS: TestA (0.00s)\n"}
{"Action":"pass","Package":"p","Test":"TestA","Elapsed":0}
{"Action":"output","Package":"p","Output":"PASS\n"}
{"Action":"output","Package":"p","Output":"ok  \tp\t0.01s\n"}
{"Action":"pass","Package":"p","Elapsed":0.01}
{"Action":"start","Package":"q"}
{"Action":"output","Package":"q","Output":"?   \tq\t[no test files]\n"}
{"Action":"skip","Package":"q","Elapsed":0}
`
		skip = `{"Action":"run","Package":"p","Test":"TestDB"}
{"Action":"output","Package":"p","Test":"TestDB","Output":"=== RUN   TestDB\n"}
{"Action":"output","Package":"p","Test":"TestDB","Output":"    db_test.go:9: needs PostgreSQL\n"}
{"Action":"output","Package":"p","Test":"TestDB","Output":"--- SKIP: TestDB (0.00s)\n"}
{"Action":"skip","Package":"p","Test":"TestDB","Elapsed":0}
{"Action":"output","Package":"p","Output":"ok  \tp\t0.01s\n"}
{"Action":"pass","Package":"p","Elapsed":0.01}
`
		fail = `{"Action":"run","Package":"p","Test":"TestB"}
{"Action":"output","Package":"p","Test":"TestB","Output":"=== RUN   TestB\n"}
{"Action":"output","Package":"p","Test":"TestB","Output":"    b_test.go:3: got 1, want 2\n"}
{"Action":"output","Package":"p","Test":"TestB","Output":"--- FAIL: TestB (0.00s)\n"}
{"Action":"fail","Package":"p","Test":"TestB","Elapsed":0}
{"Action":"output","Package":"p","Output":"FAIL\tp\t0.01s\n"}
{"Action":"fail","Package":"p","Elapsed":0.01}
`
		timeout = `{"Action":"run","Package":"p","Test":"TestSlow"}
{"Action":"output","Package":"p","Test":"TestSlow","Output":"    slow_test.go:7: waiting for the broker\n"}
{"Action":"output","Package":"p","Output":"panic: test timed out after 1s\n"}
{"Action":"fail","Package":"p","Elapsed":1}
`
		buildFail = `{"ImportPath":"p [p.test]","Action":"build-output","Output":"p/a_test.go:3:1: syntax error\n"}
{"ImportPath":"p [p.test]","Action":"build-fail"}
{"Action":"start","Package":"p"}
{"Action":"output","Package":"p","Output":"FAIL\tp [build failed]\n"}
{"Action":"fail","Package":"p","Elapsed":0,"FailedBuild":"p [p.test]"}
`
	)
	f := func(name, in string, wantOK bool, wantOut, notOut []string) {
		t.Helper()
		var b strings.Builder
		if ok := report(strings.NewReader(in), &b); ok != wantOK {
			t.Errorf("%s: ok = %v, want %v; output:\n%s", name, ok, wantOK, b.String())
		}
		for _, s := range wantOut {
			if !strings.Contains(b.String(), s) {
				t.Errorf("%s: output lacks %q:\n%s", name, s, b.String())
			}
		}
		for _, s := range notOut {
			if strings.Contains(b.String(), s) {
				t.Errorf("%s: output has %q:\n%s", name, s, b.String())
			}
		}
	}
	f("all pass", pass, true, []string{"ok  \tp\t0.01s\n", "?   \tq\t[no test files]\n", "tests: 1 passed, 0 failed, 0 skipped\n"},
		[]string{"quiet", "=== RUN", "PASS\n"})
	f("a skip fails the run", pass+skip, false, []string{"needs PostgreSQL", "--- SKIP: TestDB", "skipped: 1; every test runs here", "  p TestDB\n", "tests: 1 passed, 0 failed, 1 skipped\n"}, nil)
	f("a failure shows its output", fail, false, []string{"b_test.go:3: got 1, want 2", "--- FAIL: TestB", "FAIL\tp\t0.01s", "tests: 0 passed, 1 failed, 0 skipped\n"}, []string{"=== RUN"})
	f("a timeout shows the running test", timeout, false, []string{"waiting for the broker", "panic: test timed out"}, nil)
	f("a build failure", buildFail, false, []string{"syntax error", "FAIL\tp [build failed]"}, nil)
	f("what go says besides", "go: downloading example.com/m v1.0.0\n"+pass, true, []string{"go: downloading example.com/m v1.0.0\n"}, nil)
}
