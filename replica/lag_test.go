package replica

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
)

// Scrapes are public: the broker is asked for lag at most once per
// lagMaxAge, however often /-/metrics is scraped.
func TestLagIsAskedOncePerMaxAge(t *testing.T) {
	asked := 0
	now := time.Unix(1000, 0)
	l := newLagCollector(nil, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	l.lag = func(context.Context) (kadm.DescribedGroupLags, error) { asked++; return nil, nil }
	l.now = func() time.Time { return now }
	reg := prometheus.NewRegistry()
	reg.MustRegister(l)
	for range 50 {
		if _, err := reg.Gather(); err != nil {
			t.Fatal(err)
		}
	}
	if asked != 1 {
		t.Fatalf("asked %d times for 50 scrapes", asked)
	}
	now = now.Add(lagMaxAge)
	_, _ = reg.Gather()
	if asked != 2 {
		t.Fatalf("asked %d times once the answer is old", asked)
	}
}
