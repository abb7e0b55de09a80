package replica

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eventops/eventops/broker"
	"github.com/eventops/eventops/broker/brokertest"
	"github.com/eventops/eventops/processors"
	"github.com/eventops/eventops/rules"
	"github.com/eventops/eventops/store/storetest"
	"github.com/eventops/eventops/tables"
)

// A replica of every stage, stopped while its sink holds rows, drains in
// order: the stages stop with the rows still in the writers, the writers
// write them, the producers flush, the actors stop, the connections close;
// Run returns only then, and every goroutine it started has ended.
func TestRunStopsInOrderAndLeavesNothingRunning(t *testing.T) {
	const events = 5
	bed := newTestBed(t)
	before := goroutines()
	reg := prometheus.NewRegistry()
	ready := make(chan struct{})
	opts := bed.options()
	// A short hand-back grace: the sink stage stops without waiting long
	// for rows that only the drain writes.
	opts.Kafka.HandBackGrace = time.Second
	// Rows wait in the writers until the shutdown drains them.
	opts.BatchWait = time.Hour
	opts.Registry, opts.OnReady = reg, func() { close(ready) }
	r, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var steps []string
	r.afterStep = func(step string, w *wiring) {
		mu.Lock()
		steps = append(steps, step)
		mu.Unlock()
		checkStep(t, step, w, bed.dbURL, events)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ran := make(chan error, 1)
	go func() { ran <- r.Run(ctx) }()
	waitReady(t, ready, ran)
	sendEvents(t, bed.brokers, events)
	eventually(t, time.Minute, "the sink holds the rows", func() error {
		if n := gauge(reg, "eventops_store_pending_rows", "metrics"); n < events {
			return fmt.Errorf("%v rows pending", n)
		}
		return nil
	})
	cancel()
	select {
	case err := <-ran:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("Run has not returned 2 minutes after its context ended")
	}
	// Run returned: no goroutine it started runs the project's code any
	// more; what libraries still wind down (a closed connection's reader)
	// ends soon after.
	// The goroutine this test started to call Run may still be on its way
	// out after handing Run's error over: it is the test's, not Run's.
	if left := running(notCreatedBy(startedSince(before), "replica.TestRunStopsInOrderAndLeavesNothingRunning"), "github.com/eventops/eventops/"); len(left) > 0 {
		t.Errorf("Run returned while %d of its goroutines run:\n%s", len(left), strings.Join(left, "\n\n"))
	}
	mu.Lock()
	want := []string{stepStages, stepWriters, stepProducers, stepActors, stepConnections}
	if !slices.Equal(steps, want) {
		t.Errorf("the shutdown went %q, want %q", steps, want)
	}
	mu.Unlock()
	eventually(t, 30*time.Second, "every goroutine Run started ends", func() error {
		if left := startedSince(before); len(left) > 0 {
			return fmt.Errorf("%d goroutines left:\n%s", len(left), strings.Join(left, "\n\n"))
		}
		return nil
	})
}

// A stage that cannot be built starts nothing: Run returns its error, and
// what the stages built before it opened is closed.
func TestRunThatCannotBuildAStageStartsNothing(t *testing.T) {
	bed := newTestBed(t)
	before := goroutines()
	opts := bed.options()
	// The notify stage is built after ingest, features and sink.
	opts.Alerting = filepath.Join(t.TempDir(), "missing.yml")
	r, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Run(context.Background()); err == nil || !strings.HasPrefix(err.Error(), "alerting: ") {
		t.Fatalf("Run: %v, want the alerting file's error", err)
	}
	if left := running(startedSince(before), "github.com/eventops/eventops/"); len(left) > 0 {
		t.Errorf("Run returned while %d of its goroutines run:\n%s", len(left), strings.Join(left, "\n\n"))
	}
	eventually(t, 30*time.Second, "every goroutine Run started ends", func() error {
		if left := startedSince(before); len(left) > 0 {
			return fmt.Errorf("%d goroutines left:\n%s", len(left), strings.Join(left, "\n\n"))
		}
		return nil
	})
}

// testBed is a broker with every topic, a fresh database and a listener
// for the API.
type testBed struct {
	brokers []string
	dbURL   string
	ln      net.Listener
	dataDir string
}

func newTestBed(t *testing.T) *testBed {
	t.Helper()
	b := brokertest.Start(t, broker.Options{Logger: slog.New(slog.DiscardHandler)})
	t.Cleanup(b.Close)
	layout := tables.DefaultLayout()
	layout.Partitions = 2
	if _, err := broker.EnsureTopics(context.Background(), b.Addrs(), layout, 1); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return &testBed{brokers: b.Addrs(), dbURL: storetest.NewDatabase(t), ln: ln, dataDir: t.TempDir()}
}

// waitReady returns once a replica said it is ready (ready is closed), or
// fails the test when its Run returned first (ran) or after 2 minutes.
func waitReady(t *testing.T, ready <-chan struct{}, ran <-chan error) {
	t.Helper()
	select {
	case <-ready:
	case err := <-ran:
		t.Fatalf("Run returned before the replica was ready: %v", err)
	case <-time.After(2 * time.Minute):
		t.Fatal("the replica is not ready after 2 minutes")
	}
}

// options are those of a replica of every stage on the bed.
func (bed *testBed) options() Options {
	return Options{
		Stages:      Stages(),
		Kafka:       processors.Kafka{Brokers: bed.brokers, ClientID: "lifecycle", DataDir: bed.dataDir, SessionTimeout: 6 * time.Second},
		DatabaseURL: bed.dbURL,
		LoadRules:   func() (*rules.RuleSet, error) { return rules.Parse("lifecycle.yml", []byte(cpuRules), rules.Options{}) },
		Listener:    bed.ln,
		Logger:      slog.New(slog.DiscardHandler),
	}
}

// checkStep checks what a step of the shutdown left.
func checkStep(t *testing.T, step string, w *wiring, dbURL string, events int) {
	switch step {
	case stepStages:
		if left := running(startedSince(nil), stageLoops...); len(left) > 0 {
			t.Errorf("%s: %d stage goroutines still run:\n%s", step, len(left), strings.Join(left, "\n\n"))
		}
		// The rows wait in the writers: only the drain writes them.
		if n := w.sink.PendingRows(); n < events {
			t.Errorf("%s: %d rows pending in the writers, want %d", step, n, events)
		}
		if n := metricRows(t, dbURL); n != 0 {
			t.Errorf("%s: %d rows written before the drain", step, n)
		}
	case stepWriters:
		if n := w.sink.PendingRows(); n != 0 {
			t.Errorf("%s: %d rows still pending", step, n)
		}
		if n := metricRows(t, dbURL); n != events {
			t.Errorf("%s: %d rows in PostgreSQL, want %d", step, n, events)
		}
	case stepProducers:
		for _, p := range w.producers() {
			if n := p.BufferedProduceRecords(); n != 0 {
				t.Errorf("%s: a producer still holds %d records", step, n)
			}
		}
	case stepConnections:
		if err := w.db.Ping(context.Background()); err == nil {
			t.Errorf("%s: the store still answers", step)
		}
		if err := w.records.ProduceSync(context.Background(), &kgo.Record{Topic: tables.RawTopic}).FirstErr(); err == nil {
			t.Errorf("%s: a producer still produces", step)
		}
	}
}

// stageLoops are functions of the stages' goroutines: none may run once the
// stages have stopped.
var stageLoops = []string{
	"replica.(*wiring).start", "replica.(*wiring).supervise", "goka.(*Processor).Run", "goka.(*View).Run",
	"processors.(*FeatureView).Run", "processors.(*AlertFeed).Run", "api.(*Server).Serve", "actors.(*Notifier).Run",
	"store.(*Store).RunMaintenance", "replica.(*wiring).buildReload", "replica.(*wiring).buildReadiness",
}

// running returns the stacks that call any of fns.
func running(stacks []string, fns ...string) []string {
	var out []string
	for _, s := range stacks {
		for _, fn := range fns {
			if strings.Contains(s, fn) {
				out = append(out, s)
				break
			}
		}
	}
	return out
}

// notCreatedBy leaves out the stacks of goroutines that fn started itself.
func notCreatedBy(stacks []string, fn string) []string {
	var out []string
	for _, s := range stacks {
		if !strings.Contains(s, "created by github.com/eventops/eventops/"+fn+" ") && !strings.Contains(s, "created by github.com/eventops/eventops/"+fn+"\n") {
			out = append(out, s)
		}
	}
	return out
}

// sendEvents produces n events of one source to the raw topic.
func sendEvents(t *testing.T, brokers []string, n int) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	now := time.Now()
	for i := range n {
		v := fmt.Sprintf(`{"tenant_id":"acme","host":"h1","metric":"cpu_load","value":99,"ts_event":%q}`,
			now.Add(time.Duration(i-n)*time.Second).Format(time.RFC3339Nano))
		rec := &kgo.Record{Topic: tables.RawTopic, Key: []byte("acme/h1"), Value: []byte(v)}
		if err := cl.ProduceSync(context.Background(), rec).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
}

// metricRows counts the rows of the metrics table.
func metricRows(t *testing.T, dbURL string) int {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Errorf("count rows: %v", err)
		return -1
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM metrics`).Scan(&n); err != nil {
		t.Errorf("count rows: %v", err)
		return -1
	}
	return n
}

// gauge is the value of a gauge whose table label is table.
func gauge(reg *prometheus.Registry, name, table string) float64 {
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.Metric {
			for _, l := range m.Label {
				if l.GetName() == "table" && l.GetValue() == table {
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	return 0
}

// goroutines returns the stacks of the goroutines running now, by id.
func goroutines() map[string]string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	out := map[string]string{}
	for _, g := range strings.Split(string(buf), "\n\n") {
		if f := strings.Fields(g); len(f) > 1 {
			out[f[1]] = g
		}
	}
	return out
}

// startedSince returns the stacks of the goroutines running now that did
// not run at before, except the process's lazily started singletons that
// no replica owns.
func startedSince(before map[string]string) []string {
	var left []string
	for id, stack := range goroutines() {
		if _, ok := before[id]; !ok && !processWide(stack) {
			left = append(left, stack)
		}
	}
	sort.Strings(left)
	return left
}

// processWide says whether a goroutine is one a library starts once per
// process, on first use, and never ends.
func processWide(stack string) bool {
	for _, fn := range []string{
		// go-metrics, which sarama counts with, ticks every meter of the
		// process from one goroutine.
		"github.com/rcrowley/go-metrics.(*meterArbiter).tick",
	} {
		if strings.Contains(stack, fn) {
			return true
		}
	}
	return false
}

// eventually polls f until it returns nil or within passes.
func eventually(t *testing.T, within time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s: %v", what, within, err)
		}
		<-time.After(50 * time.Millisecond)
	}
}
