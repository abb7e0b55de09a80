package processors

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/eventops/eventops/broker"
	"github.com/eventops/eventops/broker/brokertest"
	"github.com/eventops/eventops/features"
	"github.com/eventops/eventops/tables"
)

// Readiness probes and feature reads go on while a replica stops: reads of
// the features view during its end must not touch the partitions goka
// closes (the race detector watches this test), and answer that the view
// stopped.
func TestFeatureViewReadsWhileItStops(t *testing.T) {
	b := brokertest.Start(t, broker.Options{Logger: slog.New(slog.DiscardHandler)})
	defer b.Close()
	k := Kafka{Brokers: b.Addrs(), Logger: slog.New(slog.DiscardHandler)}
	if _, err := broker.EnsureTopics(context.Background(), b.Addrs(), tables.DefaultLayout(), 1); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		v, err := NewFeatureView(k, func(string) features.Config { return features.Config{} })
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		ran := make(chan error, 1)
		go func() { ran <- v.Run(ctx) }()
		eventually(t, time.Minute, "the view recovers", func() error {
			if !v.Recovered() {
				return errors.New("not yet")
			}
			return nil
		})
		var wg sync.WaitGroup
		stop := make(chan struct{})
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					v.Recovered()
					_, _ = v.SourceState(context.Background(), "acme", "h")
				}
			}()
		}
		cancel()
		if err := <-ran; err != nil {
			t.Fatal(err)
		}
		if v.Recovered() {
			t.Fatal("a stopped view says it is recovered")
		}
		if _, err := v.SourceState(context.Background(), "acme", "h"); err == nil {
			t.Fatal("a stopped view answered a read")
		}
		close(stop)
		wg.Wait()
	}
}
