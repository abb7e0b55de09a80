package brokertest

import (
	"testing"

	"github.com/eventops/eventops/broker"
)

// Start starts an embedded broker on a port of its own choosing (unless
// opts names ports). The test closes it: some stop a broker and start
// another on the same data directory.
func Start(t testing.TB, opts broker.Options) *broker.Embedded {
	t.Helper()
	NeedsBroker(t)
	if len(opts.Ports) == 0 {
		opts.Ports = []int{0}
	}
	b, err := broker.Start(opts)
	if err != nil {
		t.Fatalf("brokertest: %v", err)
	}
	return b
}

// NeedsBroker marks a test that needs a broker it does not start itself
// (one in an eventops process, say): -short skips it.
func NeedsBroker(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("needs a broker: left out by -short")
	}
}
