package backtest_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/eventops/eventops/backtest"
	"github.com/eventops/eventops/rules"
	"github.com/eventops/eventops/store"
	"github.com/eventops/eventops/tables"
)

// TestRunStopsWithinASilence: a firing alert with reminders every second
// over ten years of silence has some 300 million deadlines to meet; emit's
// first error, or the context's end, stops the run at the deadline it came
// in, not after the last one.
func TestRunStopsWithinASilence(t *testing.T) {
	rs, err := rules.Parse("resend.yml", []byte(`
metrics: [{name: cpu, kind: gauge}]
groups: [{name: g, rules: [{alert: High, expr: 'last("cpu") > 90'}]}]
`), rules.Options{ResendInterval: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	h := history{
		{Tenant: "acme", Host: "a", Samples: []tables.Sample{{Metric: "cpu", Value: 99, TsMicro: start.UnixMicro()}}},
		// The silence of a is between its two samples here, at the
		// range's end for b.
		{Tenant: "acme", Host: "a", Samples: []tables.Sample{{Metric: "cpu", Value: 99, TsMicro: start.Add(10 * 365 * 24 * time.Hour).UnixMicro()}}},
		{Tenant: "acme", Host: "b", Samples: []tables.Sample{{Metric: "cpu", Value: 99, TsMicro: start.UnixMicro()}}},
	}
	q := store.SignalScan{From: start, To: start.Add(10*365*24*time.Hour + time.Second)}
	stop := errors.New("enough")
	f := func(name, host string, want error, failAt int, ctx context.Context, emit func(n int) error) {
		t.Helper()
		type result struct {
			st  backtest.Stats
			n   int
			err error
		}
		done := make(chan result, 1)
		go func() {
			n := 0
			st, err := backtest.Run(ctx, h, store.SignalScan{Host: host, From: q.From, To: q.To}, backtest.Options{Rules: rs},
				func(*rules.Transition) error { n++; return emit(n) })
			done <- result{st, n, err}
		}()
		select {
		case r := <-done:
			if !errors.Is(r.err, want) || r.n != failAt || r.st.Transitions != int64(failAt) {
				t.Errorf("%s: err %v after %d transitions (%d counted), want %v after %d", name, r.err, r.n, r.st.Transitions, want, failAt)
			}
		case <-time.After(time.Minute):
			t.Fatalf("%s: Run still meeting deadlines a minute after it was told to stop", name)
		}
	}
	f("emit fails, between samples", "a", stop, 3, context.Background(), func(n int) error {
		if n == 3 {
			return stop
		}
		return nil
	})
	f("emit fails, at the range's end", "b", stop, 3, context.Background(), func(n int) error {
		if n == 3 {
			return stop
		}
		return nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f("context ends, at the range's end", "b", context.Canceled, 3, ctx, func(n int) error {
		if n == 3 {
			cancel()
		}
		return nil
	})
}
