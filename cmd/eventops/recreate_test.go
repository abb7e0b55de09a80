package main

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eventops/eventops/broker"
	"github.com/eventops/eventops/store/storetest"
	"github.com/eventops/eventops/tables"
)

// A topic that is deleted and created again starts its offsets over: the
// sources' marks of the old log (the raw records and the signals applied)
// must not make its new records look like replays. Each case runs the
// pipeline against a broker process, stops it, recreates the topic, starts
// the pipeline again and sends new events of the same source.
func TestRecreatedTopicsAreNotTakenForReplays(t *testing.T) {
	t.Parallel()
	for _, topic := range []string{tables.RawTopic, tables.SignalsTopic} {
		t.Run(topic, func(t *testing.T) {
			dir := t.TempDir()
			b := startEventops(t, nil, "broker", "--data-dir", filepath.Join(dir, "broker"), "--kafka-addr", "127.0.0.1:0")
			db := storetest.NewDatabase(t)
			run := func() *proc {
				return startEventops(t, nil, "run", "--brokers", b.Kafka[0], "--database-url", db,
					"--data-dir", filepath.Join(dir, "replica"), "--http-addr", "127.0.0.1:0", "--auth", "none",
					"--stages", "ingest,features,sink,api", "--flush-interval", "1s")
			}
			client := func() *kgo.Client {
				cl, err := kgo.NewClient(kgo.SeedBrokers(b.Kafka...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
				if err != nil {
					t.Fatal(err)
				}
				return cl
			}
			start := time.Now().Add(-10 * time.Minute).Truncate(time.Second)
			send := func(from, to int) {
				t.Helper()
				// A client of its own: one that knew the old topic would
				// write to its ID.
				cl := client()
				defer cl.Close()
				for i := from; i < to; i++ {
					v := fmt.Sprintf(`{"tenant_id":"acme","host":"h1","metric":"cpu_load","value":%d,"ts_event":%q}`,
						i, start.Add(time.Duration(i)*time.Second).Format(time.RFC3339))
					// One raw partition, so that new offsets fall below the old marks.
					if err := cl.ProduceSync(context.Background(), &kgo.Record{Topic: tables.RawTopic, Partition: 0, Value: []byte(v)}).FirstErr(); err != nil {
						t.Fatal(err)
					}
				}
			}
			p := run()
			send(0, 40)
			eventually(t, 60*time.Second, "features of 40 events", featureCount(p.HTTP, "h1", 40))
			p.stop(60 * time.Second)

			cl := client()
			defer cl.Close()
			adm := kadm.NewClient(cl)
			if _, err := adm.DeleteTopics(context.Background(), topic); err != nil {
				t.Fatal(err)
			}
			eventually(t, 30*time.Second, "the topic recreated", func() error {
				_, err := broker.EnsureTopics(context.Background(), b.Kafka, tables.DefaultLayout(), 1)
				if err != nil {
					return err
				}
				ends, err := adm.ListEndOffsets(context.Background(), topic)
				if err != nil {
					return err
				}
				if o, ok := ends.Lookup(topic, 0); !ok || o.Offset != 0 {
					return fmt.Errorf("partition 0 ends at %+v", o)
				}
				return nil
			})

			p = run()
			send(40, 60)
			eventually(t, 60*time.Second, "features of all 60 events", featureCount(p.HTTP, "h1", 60))
			p.stop(60 * time.Second)
		})
	}
}

// featureCount checks the count of a source's cpu_load over the last hour.
func featureCount(base, host string, want int) func() error {
	return func() error {
		var snap struct {
			Metrics map[string]struct {
				Windows map[string]struct{ Count int }
			}
		}
		if _, err := getJSON(base+"/features/acme/"+host, &snap); err != nil {
			return err
		}
		if got := snap.Metrics["cpu_load"].Windows["1h"].Count; got != want {
			return fmt.Errorf("1h count %d, want %d", got, want)
		}
		return nil
	}
}
