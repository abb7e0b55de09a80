package processors_test

import (
	"context"
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"
)

// fakeProducer records what a stage writes and acknowledges it from another
// goroutine, as a broker would.
type fakeProducer struct {
	mu   sync.Mutex
	recs []*kgo.Record
}

func (f *fakeProducer) Produce(_ context.Context, r *kgo.Record, promise func(*kgo.Record, error)) {
	f.mu.Lock()
	f.recs = append(f.recs, r)
	f.mu.Unlock()
	go promise(r, nil)
}

func (f *fakeProducer) ProduceSync(ctx context.Context, rs ...*kgo.Record) kgo.ProduceResults {
	var out kgo.ProduceResults
	for _, r := range rs {
		f.Produce(ctx, r, func(*kgo.Record, error) {})
		out = append(out, kgo.ProduceResult{Record: r})
	}
	return out
}

// topic returns the records written to topic so far.
func (f *fakeProducer) topic(topic string) []*kgo.Record {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*kgo.Record
	for _, r := range f.recs {
		if r.Topic == topic {
			out = append(out, r)
		}
	}
	return out
}
