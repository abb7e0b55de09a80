package processors

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eventops/eventops/broker"
	"github.com/eventops/eventops/broker/brokertest"
	"github.com/eventops/eventops/rules"
	"github.com/eventops/eventops/tables"
)

// feedTarget records what the alert feed hands over.
type feedTarget struct {
	mu      sync.Mutex
	start   []int64
	since   time.Time
	inits   int
	got     []tables.AlertRecord
	readyAt int // how many records had come when the feed said it was ready; -1: not yet
}

func (f *feedTarget) Init(start []int64, since time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.start, f.since = slices.Clone(start), since
	f.inits++
}

func (f *feedTarget) Publish(r tables.AlertRecord) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.inits == 0 {
		panic("a record before Init")
	}
	f.got = append(f.got, r)
}

func (f *feedTarget) MarkReady() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.readyAt < 0 {
		f.readyAt = len(f.got)
	}
}

func (f *feedTarget) records() ([]tables.AlertRecord, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.got), f.readyAt
}

// The feed reads every partition of ops.alert.v1 from the lookback on,
// outside any consumer group: transitions with their place and header,
// other records with their place only; it is ready once it has read what
// the topic held when it started, and goes on with what comes after.
func TestAlertFeedReadsTheTopicFromTheLookback(t *testing.T) {
	b := brokertest.Start(t, broker.Options{Logger: slog.New(slog.DiscardHandler)})
	defer b.Close()
	ctx := context.Background()
	if _, err := broker.EnsureTopics(ctx, b.Addrs(), tables.DefaultLayout(), 1); err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addrs()...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	now := time.Now()
	transition := func(p int32, ep string, at time.Time) *kgo.Record {
		v := fmt.Sprintf(`{"tenant":"acme","host":"h%d","severity":"critical","state":"firing","episode_id":%q}`, p, ep)
		return &kgo.Record{Topic: tables.AlertsTopic, Partition: p, Value: []byte(v), Timestamp: at}
	}
	old := now.Add(-48 * time.Hour)
	if err := cl.ProduceSync(ctx,
		transition(5, "too-old", old),
		transition(5, "e5", now),
		transition(0, "e0", now),
		&kgo.Record{Topic: tables.AlertsTopic, Partition: 0, Value: []byte(`{"state":"firing"}`), Timestamp: now},
		&kgo.Record{Topic: tables.AlertsTopic, Partition: 3, Value: []byte("not json"), Timestamp: now},
	).FirstErr(); err != nil {
		t.Fatal(err)
	}

	to := &feedTarget{readyAt: -1}
	stop := runFeed(t, AlertFeedOptions{Kafka: Kafka{Brokers: b.Addrs()}, Target: to, Lookback: 24 * time.Hour})
	eventually(t, time.Minute, "the feed is ready", func() error {
		if got, ready := to.records(); ready < 0 {
			return fmt.Errorf("not ready after %d records", len(got))
		}
		return nil
	})
	got, ready := to.records()
	if ready != 4 {
		t.Fatalf("ready after %d records, want the 4 in the lookback: %+v", ready, got)
	}
	to.mu.Lock()
	start, since := to.start, to.since
	to.mu.Unlock()
	want := make([]int64, 12)
	want[5] = 1
	if !slices.Equal(start, want) {
		t.Fatalf("started at %v, want %v (past the record older than the lookback)", start, want)
	}
	if d := now.Add(-24 * time.Hour).Sub(since); d < -time.Minute || d > time.Minute {
		t.Fatalf("reading starts from broker time %s, want about a day before %s", since, now)
	}

	if err := cl.ProduceSync(ctx, transition(3, "later", time.Now())).FirstErr(); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Minute, "the record written after the start arrives", func() error {
		if got, _ := to.records(); len(got) < 5 {
			return fmt.Errorf("%d records", len(got))
		}
		return nil
	})
	stop()

	got, _ = to.records()
	byPlace := map[[2]int64]tables.AlertRecord{}
	for _, r := range got {
		byPlace[[2]int64{int64(r.Partition), r.Offset}] = r
	}
	episodes := map[[2]int64]string{{5, 1}: "e5", {0, 0}: "e0", {0, 1}: "", {3, 0}: "", {3, 1}: "later"}
	if len(got) != len(episodes) {
		t.Fatalf("%d records, want %d: %+v", len(got), len(episodes), got)
	}
	for place, ep := range episodes {
		r, ok := byPlace[place]
		if !ok {
			t.Fatalf("no record at partition %d offset %d: %+v", place[0], place[1], got)
		}
		if r.EpisodeID != ep {
			t.Fatalf("partition %d offset %d: episode %q, want %q", place[0], place[1], r.EpisodeID, ep)
		}
		if ep == "" {
			if r.Data != nil || r.Tenant != "" {
				t.Fatalf("a record that is not a transition came with a header: %+v", r)
			}
			continue
		}
		if r.Tenant != "acme" || r.Host != fmt.Sprintf("h%d", place[0]) || r.State != "firing" || r.Severity != "critical" ||
			len(r.Data) == 0 || r.At.IsZero() {
			t.Fatalf("partition %d offset %d: %+v", place[0], place[1], r)
		}
	}
}

// The feed hands over the alert records that the sink and notify stages
// send to the DLQ (tables.DecodeAlert refuses them) with their place only,
// so that the hub moves past them without sending them, and the others
// with what the hub filters on.
func TestAlertFeedSkipsWhatTheStagesRefuse(t *testing.T) {
	files, err := filepath.Glob("../tables/testdata/alert-bad/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no bad alerts: %v", err)
	}
	for i, f := range files {
		v, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		r := alertRecord(&kgo.Record{Topic: tables.AlertsTopic, Partition: 2, Offset: int64(i), Value: v, Timestamp: time.Unix(int64(i), 0)})
		if want := (tables.AlertRecord{Partition: 2, Offset: int64(i), At: time.Unix(int64(i), 0)}); !equalRecords(r, want) {
			t.Fatalf("%s: handed over %+v, want its place only", f, r)
		}
	}
	good, _ := json.Marshal(rules.Transition{Tenant: "acme", Host: "h", State: rules.StateFiring, Severity: "critical", EpisodeID: "00000000000000e1"})
	r := alertRecord(&kgo.Record{Topic: tables.AlertsTopic, Partition: 2, Offset: 99, Value: good, Timestamp: time.Unix(99, 0)})
	want := tables.AlertRecord{Partition: 2, Offset: 99, Data: good, Tenant: "acme", Host: "h", Severity: "critical", State: "firing",
		EpisodeID: "00000000000000e1", At: time.Unix(99, 0)}
	if !equalRecords(r, want) {
		t.Fatalf("handed over %+v, want %+v", r, want)
	}
}

func equalRecords(a, b tables.AlertRecord) bool {
	return a.Partition == b.Partition && a.Offset == b.Offset && string(a.Data) == string(b.Data) && (a.Data == nil) == (b.Data == nil) &&
		a.Tenant == b.Tenant && a.Host == b.Host && a.Severity == b.Severity && a.State == b.State && a.EpisodeID == b.EpisodeID && a.At.Equal(b.At)
}
