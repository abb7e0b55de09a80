package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
)

func main() {
	if !report(os.Stdin, os.Stdout) {
		os.Exit(1)
	}
}

// event is one line of `go test -json` (see `go doc cmd/test2json`).
type event struct {
	Action  string
	Package string
	Test    string
	Output  string
	// ImportPath is set on build-output events.
	ImportPath string
}

// report copies the run to w as go test prints it and says whether every
// test that ran passed and none skipped.
func report(r io.Reader, w io.Writer) bool {
	type key struct{ pkg, test string }
	var (
		out                      = map[key]*strings.Builder{} // output of tests still running
		passed, failed, skipped  int
		skips                    []string
		packageFailed, badOutput bool
	)
	print := func(b *strings.Builder) {
		for line := range strings.Lines(b.String()) {
			if !strings.HasPrefix(line, "=== ") {
				fmt.Fprint(w, line)
			}
		}
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var e event
		if len(line) == 0 || line[0] != '{' || json.Unmarshal(line, &e) != nil || e.Action == "" {
			// What the go command itself says (a download, an error).
			fmt.Fprintf(w, "%s\n", line)
			continue
		}
		if e.Action == "build-output" {
			fmt.Fprint(w, e.Output)
			continue
		}
		if e.Test == "" {
			switch e.Action {
			case "output":
				if e.Output != "PASS\n" {
					fmt.Fprint(w, e.Output)
				}
			case "fail":
				packageFailed = true
				// A timeout or a panic ends the binary with tests still
				// running: their output says where.
				for k, b := range out {
					if k.pkg == e.Package {
						print(b)
						delete(out, k)
					}
				}
			}
			continue
		}
		k := key{e.Package, e.Test}
		switch e.Action {
		case "output":
			if out[k] == nil {
				out[k] = &strings.Builder{}
			}
			out[k].WriteString(e.Output)
		case "pass":
			passed++
			delete(out, k)
		case "fail":
			failed++
			if b := out[k]; b != nil {
				print(b)
			}
			delete(out, k)
		case "skip":
			skipped++
			skips = append(skips, e.Package+" "+e.Test)
			if b := out[k]; b != nil {
				print(b)
			}
			delete(out, k)
		}
	}
	if err := sc.Err(); err != nil {
		fmt.Fprintf(w, "noskip: reading go test -json: %v\n", err)
		badOutput = true
	}
	if skipped > 0 {
		fmt.Fprintf(w, "\nskipped: %d; every test runs here (the tests that need PostgreSQL, the broker, kcat or Chromium skip only under -short, in make check):\n", skipped)
		for _, s := range skips {
			fmt.Fprintf(w, "  %s\n", s)
		}
	}
	fmt.Fprintf(w, "tests: %d passed, %d failed, %d skipped\n", passed, failed, skipped)
	return failed == 0 && skipped == 0 && !packageFailed && !badOutput
}
