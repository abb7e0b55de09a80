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
// are durable there, or with an error once ctx ends (the drain gave up).
type RejectFunc[R any] func(ctx context.Context, rows []R, errs []error) error

// ErrWriterStopped is returned by Append once the writer's Run has ended:
// the rows are not taken.
var ErrWriterStopped = errors.New("the writer has stopped")

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
	RetryMax time.Duration
	// DrainTimeout bounds the drain once Run's context ends (default 30 s):
	// rows not written by then stay unacknowledged.
	DrainTimeout time.Duration
	Registerer   prometheus.Registerer
	Logger       *slog.Logger
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
	if o.DrainTimeout <= 0 {
		o.DrainTimeout = 30 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Writer batches rows of one kind into PostgreSQL through a protoactor
// actor. Append may be called from many goroutines; rows are written while
// Run runs.
type Writer[R any] struct {
	opts    WriterOptions
	system  *actor.ActorSystem
	pid     *actor.PID
	budget  *budget
	healthy atomic.Bool
	metrics writerMetrics
	// tickQueued: a tick waits in the actor's mailbox; the ticker sends
	// no other, so that an actor blocked retrying a write does not pile
	// them up.
	tickQueued atomic.Bool
	// sending is held (read) while Append hands rows to the actor;
	// stopped, set under it once Run's context ends, refuses rows from
	// then on, so that every row taken is ahead of the drain.
	sending sync.RWMutex
	stopped bool
}

type writerMetrics struct {
	batchRows    prometheus.Observer
	flushSeconds prometheus.Observer
	rows         *prometheus.CounterVec
	retries      prometheus.Counter
	pending      prometheus.Gauge
	appendWait   prometheus.Observer
}

// NewWriter spawns the writer's actor; it writes nothing until Run.
func NewWriter[R any](system *actor.ActorSystem, write WriteFunc[R], reject RejectFunc[R], opts WriterOptions) *Writer[R] {
	opts = opts.defaults()
	w := &Writer[R]{opts: opts, system: system, budget: newBudget(opts.MaxPendingRows)}
	w.healthy.Store(true)
	w.metrics = newWriterMetrics(opts)
	a := &writerActor[R]{w: w, write: write, reject: reject}
	w.pid = system.Root.Spawn(props(sinkDispatcher, a))
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
	wait := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "eventops_store_append_wait_seconds", ConstLabels: labels,
		Help:    "Time an input record waited for room among the rows held in memory (backpressure on the stage), per record that waited.",
		Buckets: prometheus.ExponentialBuckets(0.001, 4, 10),
	})
	if o.Registerer != nil {
		o.Registerer.MustRegister(batch, flush, rows, retries, pending, wait)
	}
	return writerMetrics{batchRows: batch, flushSeconds: flush, rows: rows, retries: retries, pending: pending, appendWait: wait}
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
// returned. Once Run's context has ended, the rows are not taken and
// ErrWriterStopped is returned.
func (w *Writer[R]) Append(ctx context.Context, rows []R, done func()) error {
	waited, err := w.budget.acquire(ctx, len(rows))
	if waited > 0 {
		w.metrics.appendWait.Observe(waited.Seconds())
	}
	if err != nil {
		// The partition is being revoked: write what it handed over
		// before now rather than at the next interval, so that it is
		// released sooner.
		w.Flush()
		return err
	}
	w.sending.RLock()
	defer w.sending.RUnlock()
	if w.stopped {
		w.budget.release(len(rows))
		return ErrWriterStopped
	}
	w.metrics.pending.Add(float64(len(rows)))
	w.system.Root.Send(w.pid, &appendRows[R]{rows: rows, done: done})
	return nil
}

// Healthy reports whether the last write succeeded.
func (w *Writer[R]) Healthy() bool { return w.healthy.Load() }

// Pending returns how many rows wait to be written.
func (w *Writer[R]) Pending() int { return w.budget.used() }

// PeakPending returns the most rows ever held at once.
func (w *Writer[R]) PeakPending() int { return w.budget.highest() }

// Flush asks for an immediate flush of what is buffered.
func (w *Writer[R]) Flush() { w.system.Root.Send(w.pid, flushNow{}) }

type flushNow struct{}

// Run writes batches until ctx ends: a batch once it holds BatchRows rows
// or has waited FlushInterval, or when Flush asks. Then it drains: it
// writes what is buffered, giving up after DrainTimeout, and stops the
// writer. Rows still unwritten then (PostgreSQL down or slow) are dropped
// from memory unacknowledged: their input is read again after a restart.
// Run returns once the writer's actor has stopped, with the drain's error.
// The owner ends ctx only once nothing appends any more (the stages have
// stopped), so that the drain writes their last rows; rows appended after
// are refused (ErrWriterStopped).
func (w *Writer[R]) Run(ctx context.Context) error {
	// Writes outlive ctx by the drain; stop ends a write still retrying
	// when the drain gives up.
	writes, stop := context.WithCancel(context.WithoutCancel(ctx))
	defer stop()
	w.system.Root.Send(w.pid, start{ctx: writes})
	w.tick(ctx, func() { w.system.Root.Send(w.pid, writerTick{}) })
	w.sending.Lock()
	w.stopped = true
	w.sending.Unlock()
	_, err := w.system.Root.RequestFuture(w.pid, drain{}, w.opts.DrainTimeout).Result()
	stop()
	_ = w.system.Root.StopFuture(w.pid).Wait()
	if err != nil {
		return fmt.Errorf("writer %s: drain: %w", w.opts.Name, err)
	}
	return nil
}

// start hands the actor the context of its writes: it writes from then on.
type start struct{ ctx context.Context }

type drain struct{}

// tick sends the actor a tick (through send) every half FlushInterval,
// unless the last one is still queued, until ctx ends.
func (w *Writer[R]) tick(ctx context.Context, send func()) {
	t := time.NewTicker(w.opts.FlushInterval / 2)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
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
	// ctx is the context of writes, nil until Run starts them; asked
	// says a flush was asked for before.
	ctx   context.Context
	asked bool
	buf   []R
	dones []func()
	since time.Time
}

func (a *writerActor[R]) Receive(c actor.Context) {
	switch m := c.Message().(type) {
	case start:
		a.ctx = m.ctx
		if a.asked || len(a.buf) >= a.w.opts.BatchRows {
			a.flush()
		}
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
// the write succeeds or the drain gives up. Before Run it writes nothing:
// Run's start flushes what was asked for.
func (a *writerActor[R]) flush() {
	if a.ctx == nil {
		a.asked = true
		return
	}
	if len(a.buf) == 0 {
		return
	}
	w := a.w
	began := time.Now()
	var backoff time.Duration
	for {
		res, err := a.write(a.ctx, a.buf)
		if err == nil {
			err = a.rejectBad(res.Bad)
		}
		if err == nil {
			w.healthy.Store(true)
			inserted := float64(res.Inserted)
			w.metrics.rows.WithLabelValues("inserted").Add(inserted)
			w.metrics.rows.WithLabelValues("duplicate").Add(float64(len(a.buf)-len(res.Bad)) - inserted)
			w.metrics.rows.WithLabelValues("rejected").Add(float64(len(res.Bad)))
			break
		}
		if a.ctx.Err() != nil {
			// Stopped while failing: the rows stay unacknowledged and
			// their input is read again after a restart.
			return
		}
		w.healthy.Store(false)
		w.metrics.retries.Inc()
		backoff = min(max(backoff*2, 100*time.Millisecond), w.opts.RetryMax)
		w.opts.Logger.Warn("batch write failed, retrying", "table", w.opts.Name, "rows", len(a.buf), "err", err, "backoff", backoff)
		select {
		case <-time.After(backoff):
		case <-a.ctx.Done():
			return
		}
	}
	w.metrics.batchRows.Observe(float64(len(a.buf)))
	w.metrics.flushSeconds.Observe(time.Since(began).Seconds())
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
	return a.reject(a.ctx, rows, errs)
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
// alone) and takes them; it returns how long it waited (0 when there was
// room at once). When ctx ends first, it returns ctx.Err() without taking
// them.
func (b *budget) acquire(ctx context.Context, n int) (time.Duration, error) {
	// The common case: room at once, no waiting to arrange.
	b.mu.Lock()
	if b.inUse == 0 || b.inUse+n <= b.max {
		b.take(n)
		b.mu.Unlock()
		return 0, nil
	}
	b.mu.Unlock()
	began := time.Now()
	err := b.wait(ctx, n)
	return max(time.Since(began), time.Nanosecond), err
}

// wait is acquire when there was no room at once.
func (b *budget) wait(ctx context.Context, n int) error {
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
	b.take(n)
	return nil
}

// take takes n rows (b.mu held).
func (b *budget) take(n int) {
	b.inUse += n
	b.peak = max(b.peak, b.inUse)
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
