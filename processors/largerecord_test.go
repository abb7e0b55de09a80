package processors

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eventops/eventops/broker"
	"github.com/eventops/eventops/broker/brokertest"
)

// A record several times the fetch size per partition (a 1 MiB agent
// record of thousands of metrics) is read, and so is what follows it,
// while the other partition of the same fetches keeps getting small
// records: a fetch returns an oversized record only for the first
// partition in it that has data, so the large one must not starve.
func TestARecordLargerThanTheFetchSizeIsRead(t *testing.T) {
	t.Parallel()
	b := brokertest.Start(t, broker.Options{Logger: slog.New(slog.DiscardHandler)})
	defer b.Close()
	const topic = "large-record-test"
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addrs()...), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerBatchMaxBytes(4<<20), kgo.ProducerLinger(0))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 2, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	produce := func(p int32, v []byte) error {
		return cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Partition: p, Value: v}).FirstErr()
	}
	for i := range 50 {
		if err := produce(0, []byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	large := bytes.Repeat([]byte("x"), 1<<20)
	for _, v := range [][]byte{[]byte("before"), large, large, []byte("after")} {
		if err := produce(1, v); err != nil {
			t.Fatal(err)
		}
	}
	// Partition 0 keeps having data.
	busy := make(chan struct{})
	go func() {
		defer close(busy)
		for i := 0; ctx.Err() == nil; i++ {
			if produce(0, []byte(fmt.Sprint(i))) != nil {
				return
			}
		}
	}()
	k := Kafka{Brokers: b.Addrs(), HandBackGrace: time.Second, Logger: slog.New(slog.DiscardHandler)}
	rd := &reads{m: map[string]map[int32][]int64{}}
	m := startMember(t, k, topic, "a", rd, func(int64) bool { return true })
	eventually(t, time.Minute, "the large records and the one after them are read", func() error {
		return covers(rd.of("a", 1), 0, 4)
	})
	cancel()
	<-busy
	m.stop(t)
}
