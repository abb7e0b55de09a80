// Package race tells whether the program was built with the race detector.
//
// Tests use it to size their seeded property runs: in single-goroutine
// code the detector finds nothing and slows every memory access several
// times over, so under it such a test runs fewer random cases, and its full
// count runs without it (plain go test, make fuzz). Product code does not
// branch on it.
package race
