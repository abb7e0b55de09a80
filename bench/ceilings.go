package bench

import (
	"context"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/lovoo/goka"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eventops/eventops/processors"
	"github.com/eventops/eventops/tables/gokatables"
	"github.com/eventops/eventops/tables/kgotables"
)

// Throughput is one measured rate.
type Throughput struct {
	Count   int64         `json:"count"`
	Elapsed time.Duration `json:"elapsed_ns"`
	PerSec  float64       `json:"per_sec"`
	// CPUPerItem is this process's CPU time per item, where measured.
	CPUPerItem time.Duration `json:"cpu_per_item_ns,omitempty"`
}

func rate(n int64, d time.Duration, cpu time.Duration) Throughput {
	t := Throughput{Count: n, Elapsed: d, PerSec: float64(n) / d.Seconds()}
	if cpu > 0 && n > 0 {
		t.CPUPerItem = cpu / time.Duration(n)
	}
	return t
}

func createTopic(ctx context.Context, brokers []string, topic string, partitions int32, compact bool) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	_, _ = adm.DeleteTopics(ctx, topic)
	cfg := map[string]*string{}
	if compact {
		cfg["cleanup.policy"] = kadm.StringPtr("compact")
	}
	resp, err := adm.CreateTopic(ctx, partitions, 1, cfg, topic)
	if err == nil {
		err = resp.Err
	}
	return err
}

// KeyedRecords produces n records of size bytes with keys cycling over
// keys distinct values to topic, and waits until they are acknowledged.
func KeyedRecords(ctx context.Context, brokers []string, topic string, n int64, keys, size int) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.RecordPartitioner(kgotables.Partitioner()),
		kgo.ProducerLinger(5*time.Millisecond), kgo.MaxBufferedRecords(100_000))
	if err != nil {
		return err
	}
	defer cl.Close()
	value := make([]byte, size)
	var failed atomic.Int64
	for i := int64(0); i < n; i++ {
		key := []byte("tenant/host-" + strconv.Itoa(int(i%int64(keys))))
		cl.Produce(ctx, &kgo.Record{Topic: topic, Key: key, Value: value}, func(_ *kgo.Record, err error) {
			if err != nil {
				failed.Add(1)
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		return err
	}
	if f := failed.Load(); f > 0 {
		return fmt.Errorf("%d records failed", f)
	}
	return nil
}

// BrokerRoundTrip produces n records of size bytes with franz-go and
// consumes them with franz-go at the same time: records/s from the first
// produce to the last record read.
func BrokerRoundTrip(ctx context.Context, brokers []string, n int64, size int) (Throughput, error) {
	const topic = "bench.roundtrip"
	if err := createTopic(ctx, brokers, topic, 12, false); err != nil {
		return Throughput{}, fmt.Errorf("round trip: %w", err)
	}
	consumer, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(50*time.Millisecond))
	if err != nil {
		return Throughput{}, err
	}
	defer consumer.Close()
	start, cpu0 := time.Now(), CPU()
	errc := make(chan error, 1)
	go func() { errc <- KeyedRecords(ctx, brokers, topic, n, 10_000, size) }()
	var got int64
	for got < n {
		fs := consumer.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return Throughput{}, err
		}
		got += int64(fs.NumRecords())
	}
	if err := <-errc; err != nil {
		return Throughput{}, err
	}
	return rate(n, time.Since(start), CPU()-cpu0), nil
}

// BareGoka is a goka processor that only counts per key in its group
// table: the cost of goka itself, per record, on n records pre-produced
// with keys distinct keys.
func BareGoka(ctx context.Context, k processors.Kafka, n int64, keys int) (Throughput, error) {
	const topic = "bench.bare"
	if err := createTopic(ctx, k.Brokers, topic, 12, false); err != nil {
		return Throughput{}, fmt.Errorf("bare goka: %w", err)
	}
	if err := KeyedRecords(ctx, k.Brokers, topic, n, keys, 100); err != nil {
		return Throughput{}, fmt.Errorf("bare goka: %w", err)
	}
	return BareGokaOn(ctx, k, topic, n)
}

// BareGokaOn runs the counting processor over the first n records of an
// existing topic.
func BareGokaOn(ctx context.Context, k processors.Kafka, topic string, n int64) (Throughput, error) {
	group := goka.Group("bench-bare-" + strconv.FormatInt(time.Now().UnixNano(), 36))
	if err := createTopic(ctx, k.Brokers, string(goka.GroupTable(group)), 12, true); err != nil {
		return Throughput{}, fmt.Errorf("bare goka: %w", err)
	}
	var seen atomic.Int64
	done := make(chan struct{})
	graph := goka.DefineGroup(group,
		goka.Input(goka.Stream(topic), gokatables.BytesCodec{}, func(ctx goka.Context, _ any) {
			var c int64
			if v, ok := ctx.Value().([]byte); ok {
				c, _ = strconv.ParseInt(string(v), 10, 64)
			}
			ctx.SetValue([]byte(strconv.FormatInt(c+1, 10)))
			if seen.Add(1) == n {
				close(done)
			}
		}),
		goka.Persist(gokatables.BytesCodec{}),
	)
	k.DataDir = ""
	p, err := goka.NewProcessor(k.Brokers, graph, k.ProcessorOptions()...)
	if err != nil {
		return Throughput{}, err
	}
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	start, cpu0 := time.Now(), CPU()
	errc := make(chan error, 1)
	go func() { errc <- p.Run(pctx) }()
	select {
	case <-done:
	case err := <-errc:
		return Throughput{}, fmt.Errorf("bare goka stopped: %v", err)
	case <-ctx.Done():
		return Throughput{}, ctx.Err()
	}
	t := rate(n, time.Since(start), CPU()-cpu0)
	cancel()
	<-errc
	return t, nil
}

// RawCopy COPYs n metric rows into a fresh table shaped like metrics (with
// its key), in batches of batch rows: PostgreSQL's own ceiling for the
// sink.
func RawCopy(ctx context.Context, dbURL string, n int64, batch int) (Throughput, error) {
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return Throughput{}, err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `DROP TABLE IF EXISTS bench_copy;
		CREATE TABLE bench_copy (id BIGSERIAL, ts TIMESTAMPTZ NOT NULL, tenant TEXT COLLATE "C" NOT NULL,
		source_id TEXT COLLATE "C" NOT NULL, metric TEXT COLLATE "C" NOT NULL, value DOUBLE PRECISION NOT NULL,
		unit TEXT NOT NULL DEFAULT '', tags JSONB NOT NULL DEFAULT '{}', meta JSONB, ingested_at TIMESTAMPTZ NOT NULL,
		PRIMARY KEY (tenant, source_id, metric, ts))`); err != nil {
		return Throughput{}, err
	}
	defer conn.Exec(context.Background(), `DROP TABLE IF EXISTS bench_copy`)
	base := time.Now().Add(-time.Hour)
	cols := []string{"ts", "tenant", "source_id", "metric", "value", "unit", "tags", "ingested_at"}
	start := time.Now()
	for done := int64(0); done < n; {
		m := min(int64(batch), n-done)
		_, err := conn.CopyFrom(ctx, pgx.Identifier{"bench_copy"}, cols, pgx.CopyFromSlice(int(m), func(i int) ([]any, error) {
			j := done + int64(i)
			return []any{base.Add(time.Duration(j/10000) * time.Second), "tenant-00", "host-" + strconv.Itoa(int(j%1000)),
				"metric_" + strconv.Itoa(int(j%10000/1000)), float64(j), "percent", `{"env":"bench"}`, base}, nil
		}))
		if err != nil {
			return Throughput{}, fmt.Errorf("raw copy: %w", err)
		}
		done += m
	}
	return rate(n, time.Since(start), 0), nil
}
