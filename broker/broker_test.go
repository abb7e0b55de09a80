package broker_test

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eventops/eventops/broker"
	"github.com/eventops/eventops/broker/brokertest"
	"github.com/eventops/eventops/tables"
)

func start(t *testing.T, dir string) *broker.Embedded {
	t.Helper()
	return brokertest.Start(t, broker.Options{DataDir: dir})
}

func TestEnsureTopicsIsIdempotentAndSurvivesRestart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	b := start(t, dir)
	layout := tables.DefaultLayout()
	reps, err := broker.EnsureTopics(ctx, b.Addrs(), layout, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range reps {
		if !r.Created || r.Mismatch != "" {
			t.Fatalf("first run: %+v", r)
		}
	}
	b.Close()

	b = start(t, dir)
	defer b.Close()
	reps, err = broker.EnsureTopics(ctx, b.Addrs(), layout, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range reps {
		if r.Created || r.Mismatch != "" {
			t.Fatalf("second run: %+v", r)
		}
	}
	cl, _ := kgo.NewClient(kgo.SeedBrokers(b.Addrs()...))
	defer cl.Close()
	adm := kadm.NewClient(cl)
	details, err := adm.ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rcs, err := adm.DescribeTopicConfigs(ctx, tables.MetaTopic, tables.SignalsTopic)
	if err != nil {
		t.Fatal(err)
	}
	for _, spec := range layout.Topics() {
		d, ok := details[spec.Name]
		if !ok || int32(len(d.Partitions)) != spec.Partitions {
			t.Errorf("%s: %d partitions after restart, want %d", spec.Name, len(d.Partitions), spec.Partitions)
		}
	}
	for _, rc := range rcs {
		for _, c := range rc.Configs {
			if c.Key == "cleanup.policy" {
				want := tables.CleanupDelete
				if rc.Name == tables.MetaTopic {
					want = tables.CleanupCompact
				}
				if *c.Value != want {
					t.Errorf("%s: cleanup.policy %s, want %s", rc.Name, *c.Value, want)
				}
			}
		}
	}
}

// A keyed record written by kcat as the README says must land on the
// partition goka reads for that key.
func TestKcatKeyedRecordsLandWhereGokaReads(t *testing.T) {
	if _, err := exec.LookPath("kcat"); err != nil {
		t.Fatal("kcat is required (apt-get install kcat): ", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b := start(t, "")
	defer b.Close()
	if _, err := broker.EnsureTopics(ctx, b.Addrs(), tables.DefaultLayout(), 1); err != nil {
		t.Fatal(err)
	}
	var in strings.Builder
	const n = 300
	for i := 0; i < n; i++ {
		fmt.Fprintf(&in, "tenant-%d/host-%d\t{\"owner\":\"team-%d\"}\n", i%7, i, i)
	}
	args := append([]string{"-b", b.Addrs()[0], "-t", tables.MetaTopic, "-P", "-K", "\t"}, strings.Fields(tables.KcatPartitionerFlag)...)
	cmd := exec.CommandContext(ctx, "kcat", args...)
	cmd.Stdin = strings.NewReader(in.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kcat: %v: %s", err, out)
	}
	cl, _ := kgo.NewClient(kgo.SeedBrokers(b.Addrs()...), kgo.ConsumeTopics(tables.MetaTopic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	defer cl.Close()
	seen := 0
	for seen < n {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("read %d of %d records: %v", seen, n, err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			seen++
			if want := tables.Partition(string(r.Key), tables.DefaultLayout().Partitions); r.Partition != want {
				t.Errorf("key %s on partition %d, goka reads it from %d", r.Key, r.Partition, want)
			}
		})
	}
}

// ingest.raw.agent is created with message.timestamp.type=LogAppendTime:
// whatever times a producer puts on its records, they are read back (by
// franz-go, and by sarama, which goka reads with) with the time the broker
// received them, compressed batches included. Other topics keep the
// producer's times.
func TestRawRecordsCarryTheBrokersTime(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b := start(t, "")
	defer b.Close()
	if _, err := broker.EnsureTopics(ctx, b.Addrs(), tables.DefaultLayout(), 1); err != nil {
		t.Fatal(err)
	}
	agentClock := time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)
	before := time.Now().Truncate(time.Millisecond)
	for i, codec := range []kgo.CompressionCodec{kgo.NoCompression(), kgo.ZstdCompression()} {
		cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addrs()...), kgo.RecordPartitioner(kgo.ManualPartitioner()),
			kgo.ProducerBatchCompression(codec))
		if err != nil {
			t.Fatal(err)
		}
		for _, topic := range []string{tables.RawTopic, tables.SignalsTopic} {
			var batch []*kgo.Record
			for j := range 3 {
				batch = append(batch, &kgo.Record{Topic: topic, Partition: int32(i), Key: []byte("k"),
					Value: []byte(`{"pad":"` + strings.Repeat("x", 200) + `"}`), Timestamp: agentClock.Add(time.Duration(j) * time.Hour),
					Headers: []kgo.RecordHeader{{Key: "h", Value: []byte{byte(j)}}}})
			}
			if err := cl.ProduceSync(ctx, batch...).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
		cl.Close()
	}
	after := time.Now()

	check := func(reader, topic string, p int32, j int, ts time.Time, value []byte) {
		t.Helper()
		if want := `{"pad":"` + strings.Repeat("x", 200) + `"}`; string(value) != want {
			t.Errorf("%s: %s/%d record %d: value %q", reader, topic, p, j, value)
		}
		switch {
		case topic == tables.RawTopic && (ts.Before(before) || ts.After(after)):
			t.Errorf("%s: %s/%d record %d stamped %v, not the broker's time (between %v and %v)", reader, topic, p, j, ts, before, after)
		case topic != tables.RawTopic && !ts.Equal(agentClock.Add(time.Duration(j)*time.Hour)):
			t.Errorf("%s: %s/%d record %d stamped %v, want the producer's", reader, topic, p, j, ts)
		}
	}
	for _, topic := range []string{tables.RawTopic, tables.SignalsTopic} {
		for p := range int32(2) {
			cons, err := kgo.NewClient(kgo.SeedBrokers(b.Addrs()...),
				kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {p: kgo.NewOffset().AtStart()}}))
			if err != nil {
				t.Fatal(err)
			}
			var got []*kgo.Record
			for len(got) < 3 && ctx.Err() == nil {
				fs := cons.PollFetches(ctx)
				for _, e := range fs.Errors() {
					t.Errorf("fetch %s/%d: %v", topic, p, e.Err)
				}
				got = append(got, fs.Records()...)
			}
			cons.Close()
			if len(got) != 3 {
				t.Fatalf("%s/%d: %d records", topic, p, len(got))
			}
			for j, r := range got {
				check("franz-go", topic, p, j, r.Timestamp, r.Value)
				if len(r.Headers) != 1 || r.Headers[0].Value[0] != byte(j) || string(r.Key) != "k" || r.Offset != int64(j) {
					t.Errorf("franz-go: %s/%d record %d: %+v", topic, p, j, r)
				}
			}

			sc, err := sarama.NewConsumer(b.Addrs(), sarama.NewConfig())
			if err != nil {
				t.Fatal(err)
			}
			pc, err := sc.ConsumePartition(topic, p, sarama.OffsetOldest)
			if err != nil {
				t.Fatal(err)
			}
			for j := range 3 {
				select {
				case m := <-pc.Messages():
					check("sarama", topic, p, j, m.Timestamp, m.Value)
				case err := <-pc.Errors():
					t.Fatalf("sarama: %s/%d: %v", topic, p, err)
				case <-ctx.Done():
					t.Fatalf("sarama read %d records of %s/%d", j, topic, p)
				}
			}
			pc.Close()
			sc.Close()
		}
	}
}

// A raw topic made before its records carried the broker's time is reported.
func TestEnsureTopicsReportsARawTopicWithoutTheBrokersTime(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b := start(t, "")
	defer b.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	layout := tables.DefaultLayout()
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, layout.Partitions, 1, map[string]*string{"cleanup.policy": kadm.StringPtr("delete")}, tables.RawTopic); err != nil {
		t.Fatal(err)
	}
	reps, err := broker.EnsureTopics(ctx, b.Addrs(), layout, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range reps {
		want := ""
		if r.Spec.Name == tables.RawTopic {
			want = "message.timestamp.type is CreateTime, want LogAppendTime"
		}
		if r.Mismatch != want {
			t.Errorf("%s: mismatch %q, want %q", r.Spec.Name, r.Mismatch, want)
		}
	}
}

// The record limit of a topic is read from the brokers: the embedded
// broker's own unless the topic sets one.
func TestMaxMessageBytes(t *testing.T) {
	b := start(t, t.TempDir())
	ctx := context.Background()
	if _, err := broker.EnsureTopics(ctx, b.Addrs(), tables.DefaultLayout(), 1); err != nil {
		t.Fatal(err)
	}
	n, err := broker.MaxMessageBytes(ctx, b.Addrs(), tables.FeaturesTable)
	if err != nil || n != 16<<20 {
		t.Fatalf("max.message.bytes %d, %v", n, err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	resp, err := kadm.NewClient(cl).AlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: "max.message.bytes", Value: kadm.StringPtr("1048576")}},
		tables.FeaturesTable)
	if err == nil {
		_, err = resp.On(tables.FeaturesTable, nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	if n, err := broker.MaxMessageBytes(ctx, b.Addrs(), tables.FeaturesTable); err != nil || n != 1<<20 {
		t.Fatalf("max.message.bytes set on the topic: %d, %v", n, err)
	}
}
