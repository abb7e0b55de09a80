package processors

import (
	"context"
	"crypto/rand"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eventops/eventops/broker"
	"github.com/eventops/eventops/broker/brokertest"
)

// refuseOnce refuses the first record for good, as a broker does now and
// then, and hands every other one to a real client.
type refuseOnce struct {
	cl      *kgo.Client
	once    sync.Once
	refused chan error
}

func (r *refuseOnce) Produce(ctx context.Context, rec *kgo.Record, promise func(*kgo.Record, error)) {
	first := false
	r.once.Do(func() { first = true })
	if first {
		go promise(rec, kerr.InvalidRecord)
		return
	}
	r.cl.Produce(ctx, rec, func(rec *kgo.Record, err error) {
		if err != nil {
			select {
			case r.refused <- err:
			default:
			}
		}
		promise(rec, err)
	})
}

// Once a record is refused, a lane holds what comes after it and sends it
// all again in one go. Against a broker with Kafka's and Redpanda's default
// max.message.bytes (1 MiB), with the producer settings of the pipeline
// (batches of up to 16 MiB), sending 2 MiB of held signals again must not
// make the broker refuse them again: each refusal starts another round
// with backoff, and a lane whose backlog keeps growing never drains.
func TestALaneSendsItsBacklogAgainInBatchesTheBrokerTakes(t *testing.T) {
	b := brokertest.Start(t, broker.Options{MaxMessageBytes: 1048588, Logger: slog.New(slog.DiscardHandler)})
	defer b.Close()
	// As the replica builds its producers: batches as large as the
	// brokers take.
	limit, err := broker.BatchLimit(context.Background(), b.Addrs())
	if err != nil {
		t.Fatal(err)
	}
	cl, err := Kafka{Brokers: b.Addrs(), BatchBytes: limit}.NewProducer("signals", kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := kadm.NewClient(cl).CreateTopic(context.Background(), 1, 1, nil, "signals"); err != nil {
		t.Fatal(err)
	}
	p := &refuseOnce{cl: cl, refused: make(chan error, 1)}
	stop := make(chan struct{})
	defer close(stop)
	o := newOrderedProducer(p, stop, slog.New(slog.DiscardHandler), func(error) {})
	const n = 2000
	var acked atomic.Int64
	all := make(chan struct{})
	for range n {
		v := make([]byte, 1024) // signals with tags and names compress little
		if _, err := rand.Read(v); err != nil {
			t.Fatal(err)
		}
		o.send(context.Background(), 0, []*kgo.Record{{Topic: "signals", Value: v}}, func() {
			if acked.Add(1) == n {
				close(all)
			}
		})
	}
	select {
	case <-all:
	case err := <-p.refused:
		t.Fatalf("the held records sent again were refused by the broker (%d of %d acknowledged so far): %v",
			acked.Load(), n, err)
	case <-time.After(2 * time.Minute):
		t.Fatalf("%d of %d records acknowledged", acked.Load(), n)
	}
}
