package processors

import (
	"context"
	"encoding/json"
	"sync"
	"testing"

	"github.com/lovoo/goka"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eventops/eventops/rules"
	"github.com/eventops/eventops/tables/gokatables"
)

// callback is a goka callback context of one record; DeferCommit records
// how the record was settled.
type callback struct {
	gokaContext
	session   context.Context
	partition int32
	offset    int64
	settled   func(off int64, err error)
}

func (c *callback) Context() context.Context { return c.session }
func (c *callback) Partition() int32         { return c.partition }
func (c *callback) Offset() int64            { return c.offset }
func (c *callback) Topic() goka.Stream       { return gokatables.AlertsStream }
func (c *callback) Key() string              { return "acme/h" }
func (c *callback) DeferCommit() func(error) {
	return func(err error) { c.settled(c.offset, err) }
}

// holdingTarget keeps every transition's done function for the test to
// call.
type holdingTarget struct {
	mu    sync.Mutex
	dones []func(error)
}

func (h *holdingTarget) Notify(_ context.Context, _ *rules.Transition, done func(error)) {
	h.mu.Lock()
	h.dones = append(h.dones, done)
	h.mu.Unlock()
}

// A partition read again in a new session gets a tracker of its own: the
// records of the new session are committed once they are settled,
// whatever happened to the leftovers of the old one.
func TestNotifyTracksEachSessionApart(t *testing.T) {
	for _, order := range []string{"old session first", "new session first"} {
		t.Run(order, func(t *testing.T) {
			tg := &holdingTarget{}
			n, err := NewNotify(NotifyOptions{Target: tg, Producer: nopProducer{}})
			if err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			committed := map[context.Context]map[int64]bool{}
			read := func(session context.Context, from, to int64) {
				committed[session] = map[int64]bool{}
				for off := from; off <= to; off++ {
					raw, _ := json.Marshal(rules.Transition{AlertName: "A", Tenant: "acme", Host: "h", State: "firing", EpisodeID: "e1"})
					n.alert(&callback{session: session, partition: 3, offset: off, settled: func(off int64, err error) {
						mu.Lock()
						defer mu.Unlock()
						if err != nil {
							t.Errorf("offset %d settled with %v", off, err)
						}
						committed[session][off] = true
					}}, raw)
				}
			}
			old, cancel := context.WithCancel(context.Background())
			read(old, 100, 104)
			cancel()
			read(context.Background(), 100, 107)
			dones := tg.dones
			if order == "new session first" {
				dones = append(dones[5:], dones[:5]...)
			}
			for _, done := range dones {
				done(nil)
			}
			mu.Lock()
			defer mu.Unlock()
			if got := len(committed[context.Background()]); got != 8 {
				t.Fatalf("%d of the new session's 8 records committed: %v", got, committed[context.Background()])
			}
			if got := len(committed[old]); got != 5 {
				t.Fatalf("%d of the old session's 5 records committed", got)
			}
		})
	}
}

type nopProducer struct{}

func (nopProducer) Produce(context.Context, *kgo.Record, func(*kgo.Record, error)) {}
