package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eventops/eventops/tables"
	"github.com/eventops/eventops/tables/kgotables"
)

// SIGKILL the sink stage (eventops run --stages sink) while it writes a
// backlog of signals, start it again: PostgreSQL ends with every sample
// once.
func TestSinkKilledMidBatchLosesAndDuplicatesNothing(t *testing.T) {
	t.Parallel()
	const signals, samples = 20_000, 10
	env := newDevEnv(t)
	b := startEventops(t, nil, "broker", "--data-dir", t.TempDir(), "--kafka-addr", "127.0.0.1:0")

	// The backlog, written as the features stage would: keyed tenant/host
	// with goka's partitioner.
	ctx := context.Background()
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Kafka...), kgo.RecordPartitioner(kgotables.Partitioner()),
		kgo.DefaultProduceTopic(tables.SignalsTopic), kgo.ProducerLinger(0))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	eventually(t, 30*time.Second, "the broker has the signals topic", func() error {
		return cl.ProduceSync(ctx, &kgo.Record{Key: []byte("probe/probe"), Value: []byte{0}}).FirstErr()
	})
	base := time.Now().Add(-6 * time.Hour).Truncate(time.Second)
	recs := make([]*kgo.Record, 0, signals)
	for i := range signals {
		sig := &tables.Signal{Tenant: "acme", Host: fmt.Sprintf("host-%03d", i%100), IngestMicro: base.UnixMicro()}
		for j := range samples {
			sig.Samples = append(sig.Samples, tables.Sample{Metric: fmt.Sprintf("m_%d", j), Unit: "percent", Value: float64(i),
				TsMicro: base.Add(time.Duration(i/100) * time.Second).UnixMicro()})
		}
		recs = append(recs, &kgo.Record{Key: []byte(sig.Key()), Value: sig.AppendBinary(nil)})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}

	conn, err := pgx.Connect(ctx, env.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	counts := func() (rows, distinct int, err error) {
		err = conn.QueryRow(ctx, `SELECT count(*), count(DISTINCT (source_id, metric, ts)) FROM metrics WHERE tenant = 'acme'`).Scan(&rows, &distinct)
		return
	}
	run := func() *proc {
		return startEventops(t, []string{"DATABASE_URL=" + env.dbURL}, "run", "--brokers", b.Kafka[0], "--auth", "none",
			"--stages", "sink,api", "--http-addr", "127.0.0.1:0", "--data-dir", t.TempDir(),
			"--session-timeout", "3s", "--heartbeat-interval", "500ms", "--batch-rows", "5000")
	}
	p := run()
	eventually(t, 120*time.Second, "a part of the backlog is written", func() error {
		if n, _, err := counts(); err != nil || n < signals*samples/5 {
			return fmt.Errorf("%d rows (%v)", n, err)
		}
		return nil
	})
	p.kill()
	killedAt, _, _ := counts()
	t.Logf("killed with %d of %d rows written", killedAt, signals*samples)
	if killedAt >= signals*samples {
		t.Fatal("the whole backlog was written before the kill: nothing was tested")
	}

	p = run()
	eventually(t, 180*time.Second, "every sample written once", func() error {
		n, distinct, err := counts()
		if err != nil {
			return err
		}
		if distinct != n {
			return fmt.Errorf("%d rows but %d distinct", n, distinct)
		}
		if n != signals*samples {
			return fmt.Errorf("%d of %d rows", n, signals*samples)
		}
		return nil
	})
	p.stop(60 * time.Second)
}
