package loadgen

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eventops/eventops/broker"
	"github.com/eventops/eventops/broker/brokertest"
	"github.com/eventops/eventops/tables"
)

// Records accepted by Send before the load's context ended are delivered
// by Flush: the end of a run does not fail what is still in the client's
// buffer, which a soak would count as records the broker never got.
func TestKafkaSinkDeliversWhatItAcceptedAfterTheLoadEnds(t *testing.T) {
	b := brokertest.Start(t, broker.Options{})
	t.Cleanup(b.Close)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	adm, err := kgo.NewClient(kgo.SeedBrokers(b.Addrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	if _, err := kadm.NewClient(adm).CreateTopic(ctx, 4, 1, nil, tables.RawTopic); err != nil {
		t.Fatal(err)
	}

	sink, err := NewKafkaSink(b.Addrs(), kgo.ProducerLinger(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	load, stop := context.WithCancel(ctx)
	const n = 5000
	for i := range n {
		if err := sink.Send(load, Record{Key: []byte("acme/h"), Value: []byte(`{"i":1}`)}); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	// The load ends with records still lingering in the client.
	stop()
	if err := sink.Send(load, Record{Value: []byte("late")}); err == nil {
		t.Error("a send after the load's end was accepted")
	}
	if err := sink.Flush(ctx); err != nil {
		t.Fatalf("flush: %v (%d not delivered)", err, sink.Errors())
	}
	if sink.Errors() != 0 {
		t.Fatalf("%d records not delivered", sink.Errors())
	}
	offs, err := kadm.NewClient(adm).ListEndOffsets(ctx, tables.RawTopic)
	if err != nil {
		t.Fatal(err)
	}
	var got int64
	offs.Each(func(o kadm.ListedOffset) { got += o.Offset })
	if got != n {
		t.Fatalf("%d records in %s, want %d", got, tables.RawTopic, n)
	}
}
