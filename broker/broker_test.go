package broker_test

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eventops/eventops/broker"
	"github.com/eventops/eventops/tables"
)

func start(t *testing.T, dir string) *broker.Embedded {
	t.Helper()
	b, err := broker.Start(broker.Options{DataDir: dir, Ports: []int{0}})
	if err != nil {
		t.Fatal(err)
	}
	return b
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
