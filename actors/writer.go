package actors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/eventops/eventops/store"
)

// WriteFunc writes one batch idempotently (store.Store.WriteMetrics or
// WriteAlerts).
type WriteFunc[R any] func(ctx context.Context, rows []R) (store.WriteResult, error)

// RejectFunc sends rows PostgreSQL refused to the DLQ and returns once they
// are durable there.
type RejectFunc[R any] func(rows []R, errs []error) error

// WriterOptions configure a batch writer.
type WriterOptions struct {
	// Name labels metrics and logs: "metrics" or "alerts".
	Name string
	// BatchRows flushes a batch once it holds this many rows (default 10,000).
	BatchRows int
	// FlushInterval flushes a batch that waited this long (default 200 ms).
	FlushInterval time.Duration
	// MaxPendingRows bounds the rows held in memory (default 4 × BatchRows).
	MaxPendingRows int
	// RetryMax is the longest pause between retries of a failing batch.
	RetryMax   time.Duration
	Registerer prometheus.Registerer
	Logger     *slog.Logger
}

func (o WriterOptions) defaults() WriterOptions {
	if o.BatchRows <= 0 {
		o.BatchRows = 10_000
	}
	if o.FlushInterval <= 0 {
		o.FlushInterval = 200 * time.Millisecond
	}
	if o.MaxPendingRows <= 0 {
		o.MaxPendingRows = 4 * o.BatchRows
	}
	if o.RetryMax <= 0 {
		o.RetryMax = 5 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Writer batches rows of one kind into PostgreSQL through a protoactor
// actor. Append may be called from many goroutines.
type Writer[R any] struct {
	opts    WriterOptions
	system  *actor.ActorSystem
	pid     *actor.PID
	budget  *budget
	healthy *health
	metrics writerMetrics
	ctx     context.Context
	cancel  context.CancelFunc
	stopped chan struct{}
	// tickQueued: a tick waits in the actor's mailbox; the ticker sends
	// no other, so that an actor blocked retrying a write does not pile
	// them up.
	tickQueued atomic.Bool
}

type writerMetrics struct {
	batchRows    prometheus.Observer
	flushSeconds prometheus.Observer
	rows         *prometheus.CounterVec
	retries      prometheus.Counter
	pending      prometheus.Gauge
}

// NewWriter spawns the writer's actor.
func NewWriter[R any](system *actor.ActorSystem, write WriteFunc[R], reject RejectFunc[R], opts WriterOptions) *Writer[R] {
	opts = opts.defaults()
	ctx, cancel := context.WithCancel(context.Background())
	w := &Writer[R]{
		opts: opts, system: system, budget: newBudget(opts.MaxPendingRows), healthy: &health{ok: true},
		ctx: ctx, cancel: cancel, stopped: make(chan struct{}),
	}
	w.metrics = newWriterMetrics(opts)
	a := &writerActor[R]{w: w, write: write, reject: reject}
	w.pid = system.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return a }))
	go w.tick(func() { system.Root.Send(w.pid, writerTick{}) })
	return w
}

func newWriterMetrics(o WriterOptions) writerMetrics {
	labels := prometheus.Labels{"table": o.Name}
	batch := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "eventops_store_batch_rows", Help: "Rows per PostgreSQL batch.", ConstLabels: labels,
		Buckets: prometheus.ExponentialBuckets(1, 4, 9),
	})
	flush := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "eventops_store_flush_seconds", Help: "Time to write one batch, retries included.", ConstLabels: labels,
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
	})
	rows := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "eventops_store_rows_total", Help: "Rows written, by outcome (inserted, duplicate, rejected).", ConstLabels: labels,
	}, []string{"outcome"})
	retries := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "eventops_store_retries_total", Help: "Batch writes retried after a transient error.", ConstLabels: labels,
	})
	pending := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "eventops_store_pending_rows", Help: "Rows held in memory waiting to be written.", ConstLabels: labels,
	})
	if o.Registerer != nil {
		o.Registerer.MustRegister(batch, flush, rows, retries, pending)
	}
	return writerMetrics{batchRows: batch, flushSeconds: flush, rows: rows, retries: retries, pending: pending}
}

// appendRows is the message a caller sends: the rows of one input record.
type appendRows[R any] struct {
	rows []R
	done func()
}

type writerTick struct{}

// Append hands over the rows of one input record; done is called once they
// are durable (at once for a record without rows and nothing buffered
// before it). Append blocks while the writer holds MaxPendingRows rows; when
// ctx ends while it waits, the rows are not taken and ctx.Err() is
// returned.
func (w *Writer[R]) Append(ctx context.Context, rows []R, done func()) error {
	if err := w.budget.acquire(ctx, len(rows)); err != nil {
		// The partition is being revoked: write what it handed over
		// before now rather than at the next interval, so that it is
		// released sooner.
		w.Flush()
		return err
	}
	w.metrics.pending.Add(float64(len(rows)))
	w.system.Root.Send(w.pid, &appendRows[R]{rows: rows, done: done})
	return nil
}

// Healthy reports whether the last write succeeded.
func (w *Writer[R]) Healthy() bool { return w.healthy.get() }

// Pending returns how many rows wait to be written.
func (w *Writer[R]) Pending() int { return w.budget.used() }

// PeakPending returns the most rows ever held at once.
func (w *Writer[R]) PeakPending() int { return w.budget.highest() }

// Flush asks for an immediate flush of what is buffered.
func (w *Writer[R]) Flush() { w.system.Root.Send(w.pid, flushNow{}) }

type flushNow struct{}

// Close flushes what is buffered, giving up after timeout, and stops. Rows
// still unwritten then (PostgreSQL down or slow) are dropped from memory
// unacknowledged: their input is read again after a restart.
func (w *Writer[R]) Close(timeout time.Duration) error {
	fut := w.system.Root.RequestFuture(w.pid, drain{}, timeout)
	_, err := fut.Result()
	w.cancel()
	<-w.stopped
	w.system.Root.Stop(w.pid)
	if err != nil {
		return fmt.Errorf("writer %s: drain: %w", w.opts.Name, err)
	}
	return nil
}

type drain struct{}

// tick sends the actor a tick (through send) every half FlushInterval,
// unless the last one is still queued.
func (w *Writer[R]) tick(send func()) {
	defer close(w.stopped)
	t := time.NewTicker(w.opts.FlushInterval / 2)
	defer t.Stop()
	for {
		select {
		case <-w.ctx.Done():
			return
		case <-t.C:
			if w.tickQueued.CompareAndSwap(false, true) {
				send()
			}
		}
	}
}

type writerActor[R any] struct {
	w      *Writer[R]
	write  WriteFunc[R]
	reject RejectFunc[R]
	buf    []R
	dones  []func()
	since  time.Time
}

func (a *writerActor[R]) Receive(c actor.Context) {
	switch m := c.Message().(type) {
	case *appendRows[R]:
		if len(m.rows) == 0 && len(a.dones) == 0 {
			// Nothing to write and nothing before it to wait for.
			m.done()
			return
		}
		if len(a.buf) == 0 {
			a.since = time.Now()
		}
		a.buf = append(a.buf, m.rows...)
		a.dones = append(a.dones, m.done)
		if len(a.buf) >= a.w.opts.BatchRows {
			a.flush()
		}
	case writerTick:
		a.w.tickQueued.Store(false)
		if len(a.buf) > 0 && time.Since(a.since) >= a.w.opts.FlushInterval {
			a.flush()
		}
	case flushNow:
		a.flush()
	case drain:
		a.flush()
		c.Respond(len(a.buf))
	}
}

// flush writes the buffer, retrying transient failures with backoff until
// the write succeeds or the writer is closed.
func (a *writerActor[R]) flush() {
	if len(a.buf) == 0 {
		return
	}
	w := a.w
	start := time.Now()
	var backoff time.Duration
	for {
		res, err := a.write(w.ctx, a.buf)
		if err == nil {
			err = a.rejectBad(res.Bad)
		}
		if err == nil {
			w.healthy.set(true)
			inserted := float64(res.Inserted)
			w.metrics.rows.WithLabelValues("inserted").Add(inserted)
			w.metrics.rows.WithLabelValues("duplicate").Add(float64(len(a.buf)-len(res.Bad)) - inserted)
			w.metrics.rows.WithLabelValues("rejected").Add(float64(len(res.Bad)))
			break
		}
		if w.ctx.Err() != nil {
			// Closed while failing: the rows stay unacknowledged and their
			// input is read again after a restart.
			return
		}
		w.healthy.set(false)
		w.metrics.retries.Inc()
		backoff = min(max(backoff*2, 100*time.Millisecond), w.opts.RetryMax)
		w.opts.Logger.Warn("batch write failed, retrying", "table", w.opts.Name, "rows", len(a.buf), "err", err, "backoff", backoff)
		select {
		case <-time.After(backoff):
		case <-w.ctx.Done():
			return
		}
	}
	w.metrics.batchRows.Observe(float64(len(a.buf)))
	w.metrics.flushSeconds.Observe(time.Since(start).Seconds())
	for _, done := range a.dones {
		done()
	}
	n := len(a.buf)
	w.metrics.pending.Sub(float64(n))
	w.budget.release(n)
	clear(a.buf)
	a.buf, a.dones = a.buf[:0], a.dones[:0]
}

func (a *writerActor[R]) rejectBad(bad []store.BadRow) error {
	if len(bad) == 0 {
		return nil
	}
	rows := make([]R, len(bad))
	errs := make([]error, len(bad))
	for i, b := range bad {
		rows[i], errs[i] = a.buf[b.Index], b.Err
	}
	if a.reject == nil {
		return errors.New("rows refused by PostgreSQL and no DLQ to send them to")
	}
	return a.reject(rows, errs)
}

// budget bounds the rows held in memory.
type budget struct {
	mu    sync.Mutex
	cond  *sync.Cond
	max   int
	inUse int
	peak  int
}

func newBudget(max int) *budget {
	b := &budget{max: max}
	b.cond = sync.NewCond(&b.mu)
	return b
}

// acquire waits until n rows fit (a record larger than the whole budget fits
// alone) and takes them. When ctx ends first, it returns ctx.Err() without
// taking them.
func (b *budget) acquire(ctx context.Context, n int) error {
	// The common case: room at once, no waiting to arrange.
	b.mu.Lock()
	if b.inUse == 0 || b.inUse+n <= b.max {
		b.inUse += n
		b.peak = max(b.peak, b.inUse)
		b.mu.Unlock()
		return nil
	}
	b.mu.Unlock()
	stop := context.AfterFunc(ctx, func() {
		b.mu.Lock()
		b.cond.Broadcast()
		b.mu.Unlock()
	})
	defer stop()
	b.mu.Lock()
	defer b.mu.Unlock()
	for b.inUse > 0 && b.inUse+n > b.max {
		if err := ctx.Err(); err != nil {
			return err
		}
		b.cond.Wait()
	}
	b.inUse += n
	b.peak = max(b.peak, b.inUse)
	return nil
}

func (b *budget) release(n int) {
	b.mu.Lock()
	b.inUse -= n
	b.cond.Broadcast()
	b.mu.Unlock()
}

func (b *budget) used() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.inUse
}

func (b *budget) highest() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.peak
}

type health struct {
	mu sync.Mutex
	ok bool
}

func (h *health) get() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.ok
}

func (h *health) set(ok bool) {
	h.mu.Lock()
	h.ok = ok
	h.mu.Unlock()
}
