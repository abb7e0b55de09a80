package actors_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/eventops/eventops/actors"
	"github.com/eventops/eventops/pglocal"
	"github.com/eventops/eventops/store"
	"github.com/eventops/eventops/store/storetest"
)

// record makes the rows of input record i: 10 metrics of one source at
// one event time, every (metric, ts) its own.
func record(i int) []store.MetricRow {
	base := time.Date(2025, 10, 21, 0, 0, 0, 0, time.UTC)
	rows := make([]store.MetricRow, 10)
	for j := range rows {
		rows[j] = store.MetricRow{Ts: base.Add(time.Duration(i) * time.Millisecond), Tenant: "acme", SourceID: "host-a",
			Metric: fmt.Sprintf("m_%d", j), Value: float64(i*10 + j), Tags: []byte(`{}`), IngestedAt: base}
	}
	return rows
}

// offsets tracks which records are acknowledged, as a partition's
// committed offset does: the committed offset is the first record not
// acknowledged.
type offsets struct {
	mu   sync.Mutex
	done map[int]bool
}

func (o *offsets) ack(i int) func() {
	return func() {
		o.mu.Lock()
		o.done[i] = true
		o.mu.Unlock()
	}
}

func (o *offsets) committed() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	i := 0
	for o.done[i] {
		i++
	}
	return i
}

func metricCounts(t *testing.T, s *store.Store) (rows, distinct int) {
	t.Helper()
	err := s.Pool().QueryRow(context.Background(), `SELECT count(*), count(DISTINCT (metric, ts)) FROM metrics`).Scan(&rows, &distinct)
	if err != nil {
		t.Fatal(err)
	}
	return rows, distinct
}

// A writer killed in the middle of a batch, then a new one fed from the
// committed offset on (as goka does after a crash): every row is there
// once.
func TestWriterKilledMidBatchLosesAndDuplicatesNothing(t *testing.T) {
	const records = 4000 // 40,000 rows: 8 batches
	for _, mode := range []string{"acknowledgement lost after commit", "killed during the write"} {
		t.Run(mode, func(t *testing.T) {
			db := openStore(t, store.Options{})
			system := actors.NewSystem(quiet)
			defer system.Shutdown()
			opts := actors.WriterOptions{Name: "metrics", BatchRows: 5000, MaxPendingRows: 20_000, FlushInterval: time.Hour,
				DrainTimeout: 30 * time.Second, Logger: quiet}
			offs := &offsets{done: map[int]bool{}}

			var calls atomic.Int32
			killNow := make(chan struct{})
			write := func(ctx context.Context, rows []store.MetricRow) (store.WriteResult, error) {
				if calls.Add(1) != 3 {
					return db.WriteMetrics(ctx, rows)
				}
				if mode == "killed during the write" {
					close(killNow)
					return db.WriteMetrics(ctx, rows)
				}
				res, err := db.WriteMetrics(ctx, rows)
				if err != nil {
					return res, err
				}
				close(killNow) // the rows are durable; the process dies before it says so
				<-ctx.Done()
				return store.WriteResult{}, ctx.Err()
			}
			killed := opts
			killed.DrainTimeout = time.Millisecond
			w := actors.NewWriter(system, write, nil, killed)
			stop := running(t, w)
			ctx, cancel := context.WithCancel(context.Background())
			go func() {
				for i := 0; i < records && ctx.Err() == nil; i++ {
					_ = w.Append(ctx, record(i), offs.ack(i))
				}
			}()
			select {
			case <-killNow:
			case <-time.After(60 * time.Second):
				t.Fatal("the third batch was never written")
			}
			cancel()
			_ = stop()

			from := offs.committed()
			before, _ := metricCounts(t, db)
			t.Logf("killed with %d records committed and %d rows in PostgreSQL", from, before)
			if from >= records {
				t.Fatalf("every record was committed before the kill")
			}
			if mode == "acknowledgement lost after commit" && before <= from*10 {
				t.Fatalf("no durable row went unacknowledged (%d rows, %d committed records): the test tests nothing", before, from)
			}

			// The restart reads from the committed offset on.
			w2 := actors.NewWriter(system, db.WriteMetrics, nil, opts)
			stop2 := running(t, w2)
			offs2 := &offsets{done: map[int]bool{}}
			for i := from; i < records; i++ {
				if err := w2.Append(context.Background(), record(i), offs2.ack(i-from)); err != nil {
					t.Fatal(err)
				}
			}
			if err := stop2(); err != nil {
				t.Fatal(err)
			}
			if got := offs2.committed(); got != records-from {
				t.Fatalf("%d of %d replayed records acknowledged", got, records-from)
			}
			if n, distinct := metricCounts(t, db); n != records*10 || distinct != n {
				t.Fatalf("%d rows (%d distinct), want %d", n, distinct, records*10)
			}
		})
	}
}

// When its context ends, Run writes what is buffered before it returns.
func TestWriterDrainsWhenItsContextEnds(t *testing.T) {
	db := openStore(t, store.Options{})
	system := actors.NewSystem(quiet)
	defer system.Shutdown()
	w := actors.NewWriter(system, db.WriteMetrics, nil, actors.WriterOptions{Name: "metrics", FlushInterval: time.Hour,
		DrainTimeout: 30 * time.Second, Logger: quiet})
	stop := running(t, w)
	offs := &offsets{done: map[int]bool{}}
	for i := range 50 {
		if err := w.Append(context.Background(), record(i), offs.ack(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if got := offs.committed(); got != 50 {
		t.Fatalf("%d of 50 acknowledged after the drain", got)
	}
	if n, _ := metricCounts(t, db); n != 500 {
		t.Fatalf("%d rows after the drain, want 500", n)
	}
}

// With PostgreSQL unreachable, the drain gives up at its deadline and
// acknowledges nothing.
func TestWriterDrainHasADeadline(t *testing.T) {
	system := actors.NewSystem(quiet)
	defer system.Shutdown()
	down := func(ctx context.Context, rows []store.MetricRow) (store.WriteResult, error) {
		return store.WriteResult{}, errors.New("connection refused")
	}
	w := actors.NewWriter(system, down, nil, actors.WriterOptions{Name: "metrics", FlushInterval: time.Hour, RetryMax: time.Hour,
		DrainTimeout: 300 * time.Millisecond, Logger: quiet})
	stop := running(t, w)
	var acked atomic.Bool
	if err := w.Append(context.Background(), record(0), func() { acked.Store(true) }); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := stop(); err == nil {
		t.Fatal("Run reported a drain that could not happen")
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("the drain took %s", took)
	}
	if acked.Load() || w.Healthy() {
		t.Fatalf("acknowledged %v, healthy %v", acked.Load(), w.Healthy())
	}
}

// flakyStore is a store that can be down: its writes then fail at once,
// as with a refused connection. It counts each (metric, ts) it took.
type flakyStore struct {
	down     atomic.Bool
	attempts atomic.Int64
	mu       sync.Mutex
	rows     map[string]int
}

func (f *flakyStore) write(_ context.Context, rows []store.MetricRow) (store.WriteResult, error) {
	f.attempts.Add(1)
	if f.down.Load() {
		return store.WriteResult{}, errors.New("connection refused")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var res store.WriteResult
	for _, r := range rows {
		key := r.Metric + "@" + r.Ts.Format(time.RFC3339Nano)
		if f.rows[key] == 0 {
			res.Inserted++
		}
		f.rows[key]++
	}
	return res, nil
}

// counts returns how many rows the store took, and how many of them more
// than once.
func (f *flakyStore) counts() (rows, twice int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, n := range f.rows {
		if n > 1 {
			twice++
		}
	}
	return len(f.rows), twice
}

// The store down for 30 s (of the test's own clock) under load: the writer
// turns unhealthy, holds at most its budget while its callers block,
// retries at most RetryMax apart without spinning, and once the store is
// back writes every row exactly once.
func TestWriterRidesOutAnOutage(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		system := actors.NewSystem(quiet)
		defer system.Shutdown()
		const budget, retryMax, outage = 2000, 500 * time.Millisecond, 30 * time.Second
		db := &flakyStore{rows: map[string]int{}}
		w := actors.NewWriter(system, db.write, nil, actors.WriterOptions{
			Name: "metrics", BatchRows: 500, MaxPendingRows: budget, FlushInterval: 50 * time.Millisecond,
			RetryMax: retryMax, DrainTimeout: 10 * time.Second, Logger: quiet,
		})
		ctx, cancel := context.WithCancel(context.Background())
		t.Cleanup(cancel)
		ran := make(chan error, 1)
		go func() { ran <- w.Run(ctx) }()

		// The load: a record of 10 rows every millisecond.
		var sent, acked atomic.Int64
		stop := make(chan struct{})
		stopLoad := sync.OnceFunc(func() { close(stop) })
		t.Cleanup(stopLoad)
		producerDone := make(chan struct{})
		go func() {
			defer close(producerDone)
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				case <-time.After(time.Millisecond):
				}
				_ = w.Append(context.Background(), record(i), func() { acked.Add(1) })
				sent.Add(1)
			}
		}()
		checkBudget := func() {
			t.Helper()
			if p := w.PeakPending(); p > budget {
				t.Fatalf("the writer held %d rows, over its budget of %d", p, budget)
			}
		}
		time.Sleep(time.Second)
		if n := acked.Load(); n < 900 {
			t.Fatalf("%d records acknowledged in the first second, want about 1000", n)
		}

		db.down.Store(true)
		time.Sleep(time.Second)
		if w.Healthy() || w.Pending() != budget {
			t.Fatalf("a second into the outage: healthy %v, %d rows pending; want unhealthy and the budget of %d full",
				w.Healthy(), w.Pending(), budget)
		}
		sentAtStart, ackedAtStart, attemptsAtStart := sent.Load(), acked.Load(), db.attempts.Load()
		for end := time.Now().Add(outage); time.Now().Before(end); {
			checkBudget()
			if w.Healthy() {
				t.Fatal("healthy while the store is down")
			}
			time.Sleep(100 * time.Millisecond) // the outage lasts; this samples it
		}
		if s, a := sent.Load(), acked.Load(); s != sentAtStart || a != ackedAtStart {
			t.Fatalf("during the outage %d records were taken and %d acknowledged", s-sentAtStart, a-ackedAtStart)
		}
		if n, most := db.attempts.Load()-attemptsAtStart, int64(outage/retryMax); n < most-1 || n > most+1 {
			t.Fatalf("%d writes tried in %s, want about one per %s (%d)", n, outage, retryMax, most)
		}

		db.down.Store(false)
		time.Sleep(retryMax + time.Second)
		if a := acked.Load(); a < sentAtStart+900 {
			t.Fatalf("a second after the retry that found the store back, %d records acknowledged, %d sent before the outage", a, sentAtStart)
		}
		stopLoad()
		<-producerDone
		time.Sleep(time.Second)
		total := sent.Load()
		if a := acked.Load(); a != total {
			t.Fatalf("%d of %d records acknowledged", a, total)
		}
		checkBudget()
		if !w.Healthy() {
			t.Fatal("unhealthy after recovery")
		}
		if n, twice := db.counts(); int64(n) != total*10 || twice != 0 {
			t.Fatalf("%d rows written (%d more than once), want %d once each", n, twice, total*10)
		}
		cancel()
		if err := <-ran; err != nil {
			t.Fatal(err)
		}
		t.Logf("%d records (%d rows) written, peak %d rows held (budget %d)", total, total*10, w.PeakPending(), budget)
	})
}

// PostgreSQL stopped under load, then started again: the writer's writes
// fail while it is down, its callers block once its budget is full, and
// once PostgreSQL is back every row is written exactly once.
func TestWriterRecoversWhenPostgreSQLComesBack(t *testing.T) {
	storetest.NeedsPostgreSQL(t)
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "eventops-outage")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	pg, err := pglocal.Start(ctx, pglocal.Options{Dir: dir, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pg.Stop() })
	db := openStore(t, store.Options{URL: pg.URL()})
	system := actors.NewSystem(quiet)
	defer system.Shutdown()
	const budget = 2000
	reg := prometheus.NewRegistry()
	w := actors.NewWriter(system, db.WriteMetrics, nil, actors.WriterOptions{
		Name: "metrics", BatchRows: 500, MaxPendingRows: budget, FlushInterval: 50 * time.Millisecond,
		RetryMax: 500 * time.Millisecond, DrainTimeout: 10 * time.Second, Logger: quiet, Registerer: reg,
	})
	defer running(t, w)()
	retried := func() float64 {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() == "eventops_store_retries_total" {
				return mf.GetMetric()[0].GetCounter().GetValue()
			}
		}
		return 0
	}

	var sent, acked atomic.Int64
	stop := make(chan struct{})
	producerDone := make(chan struct{})
	go func() {
		defer close(producerDone)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			_ = w.Append(ctx, record(i), func() { acked.Add(1) })
			sent.Add(1)
		}
	}()
	waitFor(t, 30*time.Second, "rows written before the outage", func() error {
		if n := acked.Load(); n < 1000 {
			return fmt.Errorf("%d records acknowledged", n)
		}
		return nil
	})

	if err := pg.Stop(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the writer turns unhealthy and its budget fills", func() error {
		if w.Healthy() || w.Pending() < budget-10 {
			return fmt.Errorf("healthy %v, %d rows pending", w.Healthy(), w.Pending())
		}
		return nil
	})
	sentAtStart, ackedAtStart := sent.Load(), acked.Load()
	// The writer retries while PostgreSQL is down: wait for a retry after
	// the budget filled, and nothing may be acknowledged meanwhile. (Once the
	// restart begins, a retry may land before Start returns.)
	retries := retried()
	waitFor(t, 30*time.Second, "a retry during the outage", func() error {
		if retried() == retries {
			return fmt.Errorf("no retry yet")
		}
		return nil
	})
	if a := acked.Load(); a != ackedAtStart {
		t.Fatalf("%d records acknowledged while PostgreSQL was down", a-ackedAtStart)
	}
	if _, err := pglocal.Start(ctx, pglocal.Options{Dir: dir, Port: pg.Port(), Logger: quiet}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, "writes resume", func() error {
		if a := acked.Load(); a < sentAtStart+1000 {
			return fmt.Errorf("%d acknowledged, %d sent before the outage", a, sentAtStart)
		}
		return nil
	})
	close(stop)
	<-producerDone
	total := sent.Load()
	waitFor(t, 60*time.Second, "every record acknowledged", func() error {
		if a := acked.Load(); a != total {
			return fmt.Errorf("%d of %d acknowledged", a, total)
		}
		return nil
	})
	if p := w.PeakPending(); p > budget {
		t.Fatalf("the writer held %d rows, over its budget of %d", p, budget)
	}
	if !w.Healthy() {
		t.Fatal("unhealthy after recovery")
	}
	if n, distinct := metricCounts(t, db); int64(n) != total*10 || distinct != n {
		t.Fatalf("%d rows (%d distinct), want %d", n, distinct, total*10)
	}
}

// A record without rows is acknowledged at once when nothing is buffered
// before it, and right after the rows buffered before it otherwise;
// nothing is written for it.
func TestWriterAcknowledgesRecordsWithoutRows(t *testing.T) {
	system := actors.NewSystem(quiet)
	defer system.Shutdown()
	var writes atomic.Int32
	write := func(_ context.Context, rows []store.MetricRow) (store.WriteResult, error) {
		writes.Add(1)
		return store.WriteResult{Inserted: int64(len(rows))}, nil
	}
	w := actors.NewWriter(system, write, nil, actors.WriterOptions{Name: "metrics", FlushInterval: time.Hour, Logger: quiet})
	defer running(t, w)()
	acked := make(chan int, 3)
	next := func() int {
		t.Helper()
		select {
		case i := <-acked:
			return i
		case <-time.After(20 * time.Second):
			t.Fatal("no acknowledgement within 20s")
		}
		return -1
	}
	ctx := context.Background()
	if err := w.Append(ctx, nil, func() { acked <- 0 }); err != nil {
		t.Fatal(err)
	}
	if i := next(); i != 0 || writes.Load() != 0 {
		t.Fatalf("acknowledged %d after %d writes", i, writes.Load())
	}
	if err := w.Append(ctx, record(1), func() { acked <- 1 }); err != nil {
		t.Fatal(err)
	}
	if err := w.Append(ctx, nil, func() { acked <- 2 }); err != nil {
		t.Fatal(err)
	}
	w.Flush()
	if a, b := next(), next(); a != 1 || b != 2 || writes.Load() != 1 {
		t.Fatalf("acknowledged %d then %d after %d writes", a, b, writes.Load())
	}
}

// A caller waiting for room whose context ends gets its error and its
// rows are not taken: the writer never holds more than its budget.
func TestWriterDoesNotTakeRowsWhenTheCallerGivesUp(t *testing.T) {
	system := actors.NewSystem(quiet)
	defer system.Shutdown()
	down := func(context.Context, []store.MetricRow) (store.WriteResult, error) {
		return store.WriteResult{}, errors.New("connection refused")
	}
	w := actors.NewWriter(system, down, nil, actors.WriterOptions{Name: "metrics", BatchRows: 10, MaxPendingRows: 10,
		FlushInterval: time.Hour, RetryMax: time.Hour, DrainTimeout: time.Millisecond, Logger: quiet})
	defer running(t, w)()
	if err := w.Append(context.Background(), record(0), func() {}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := w.Append(ctx, record(1), func() { t.Error("rows not taken were acknowledged") }); !errors.Is(err, context.Canceled) {
		t.Fatalf("Append returned %v", err)
	}
	if got := w.Pending(); got != 10 {
		t.Fatalf("%d rows held, want the budget of 10", got)
	}
}
