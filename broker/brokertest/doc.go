// Package brokertest starts the embedded broker for a test, and marks the
// tests that need a broker (kcat too talks to one, and so does an eventops
// process), so that -short (make check) can leave them out: under -short
// such a test is skipped; everywhere else it runs, and fails if the broker
// does not start.
package brokertest
