// Command noskip reads `go test -json` on its standard input and reports the
// run the way plain `go test` does (a line per package, the output of the
// tests that failed), then one closing line with the counts. It fails when a
// test failed or when any test skipped: `make test` is the whole suite with
// its real parts (PostgreSQL, the embedded broker, kcat, Chromium), and a
// test that skips there is a test that did not run. `make check` (-short) is
// where tests that need those parts step aside.
//
// Usage: go test -json ... 2>&1 | go run ./scripts/noskip
package main
