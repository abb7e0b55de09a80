package store

import (
	"context"
	"fmt"
	"time"

	"github.com/eventops/eventops/tables"
	"github.com/jackc/pgx/v5"
)

// SignalScan selects the stored samples a backtest (or a warm start) reads:
// those of the tenant and host (empty: every one) with From <= ts < To.
// A zero From or To leaves that side unbounded.
type SignalScan struct {
	Tenant string
	Host   string
	From   time.Time
	To     time.Time
}

// defaultScanBatch is how many rows ScanSignals reads per query: enough
// that a query's round trip is small next to its rows, few enough that a
// batch is a few MiB at most.
const defaultScanBatch = 4096

// scanRow is one row of a batch, as read.
type scanRow struct {
	tenant, host string
	id           int64
	ts, ingested time.Time
	metric       string
	series       int64
	value        float64
	unit         string
	tags         []byte
	meta         []byte
}

// ScanSignals calls fn with the stored samples q selects, one source after
// another in tenant, host order, and each source's samples in the order
// they arrived: by id, which WriteMetrics draws from metrics_id_seq in the
// order of a source's signals (the order of its partition of the signals
// topic, the order the live engine applied them in). Consecutive samples
// of a source with the same event time and receive time (ingested_at, the
// time of the record they came in) are one signal, as the samples of one
// time in a record are; samples of one time that arrived apart (in records
// received at other times, or with others between them) are as many
// signals, and a record's samples of several times as many signals as
// times. A resent sample is stored once, where it first arrived. A
// signal's Meta is the metadata stored with its first sample; signals of a
// source that carry the same metadata share one *tables.SourceMeta, and
// samples of one series share their Tags: neither may be modified.
// IngestMicro and Origin are zero.
//
// It reads keyset-paginated batches of a few thousand rows (the index
// metrics_source_id serves the order), each in a short query of its own,
// the next batch while fn goes through the current one: its memory is two
// batches and one signal whatever the range, and it holds no transaction
// open while fn runs (nor a snapshot: rows written during a scan ahead of
// its position are read). It stops at ctx's end (returning ctx.Err()) and
// at fn's first error, which it returns as is; its reader has stopped by
// then.
func (s *Store) ScanSignals(ctx context.Context, q SignalScan, fn func(*tables.Signal) error) error {
	n := s.scanBatch
	if n <= 0 {
		n = defaultScanBatch
	}
	rctx, cancel := context.WithCancel(ctx)
	batches := make(chan scanBatch, 1)
	// Two buffers: the one being grouped, the one being read.
	free := make(chan []scanRow, 2)
	free <- make([]scanRow, 0, n)
	free <- make([]scanRow, 0, n)
	go s.readBatches(rctx, q, n, free, batches)
	defer func() {
		cancel()
		for range batches { // until the reader has stopped
		}
	}()
	sc := signalScanner{fn: fn}
	for b := range batches {
		if b.err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return b.err
		}
		for i := range b.rows {
			if err := sc.add(ctx, &b.rows[i]); err != nil {
				return err
			}
		}
		if len(b.rows) < n {
			// The last batch: the signal still open is whole.
			return sc.flush(ctx)
		}
		// The open signal may go on in the next batch; it is flushed when
		// a row of another source or time arrives or the scan ends.
		free <- b.rows
	}
	return ctx.Err() // the reader stops early only when ctx ends
}

// scanBatch is a batch of rows as read, or why it could not be.
type scanBatch struct {
	rows []scanRow
	err  error
}

// readBatches reads q's batches of n rows into the buffers of free, in
// order, and sends each to out, until a batch is short (the last), a read
// fails or ctx ends; then it closes out.
func (s *Store) readBatches(ctx context.Context, q SignalScan, n int, free chan []scanRow, out chan<- scanBatch) {
	defer close(out)
	var after *scanRow
	for {
		var buf []scanRow
		select {
		case buf = <-free:
		case <-ctx.Done():
			return
		}
		rows, err := s.scanBatchRows(ctx, q, after, n, buf[:0])
		select {
		case out <- scanBatch{rows, err}:
		case <-ctx.Done():
			return
		}
		if err != nil || len(rows) < n {
			return
		}
		last := rows[len(rows)-1]
		after = &last
	}
}

// scanBatchRows reads the next batch of rows after the key of after (nil:
// from the start) into buf.
func (s *Store) scanBatchRows(ctx context.Context, q SignalScan, after *scanRow, n int, buf []scanRow) ([]scanRow, error) {
	sql, args := scanQuery(q, after, n)
	err := s.queryScan(ctx, sql, args, func(rows pgx.Rows) error {
		for rows.Next() {
			buf = append(buf, scanRow{})
			r := &buf[len(buf)-1]
			if err := rows.Scan(&r.tenant, &r.host, &r.id, &r.ts, &r.ingested, &r.metric, &r.series, &r.value, &r.unit, &r.tags, &r.meta); err != nil {
				return err
			}
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("store: scan signals: %w", err)
	}
	return buf, nil
}

// queryScan runs a batch's statement in a read-only transaction where the
// planner may not sort, so that the order comes from metrics_source_id: on
// partitions without statistics yet (just written, not analyzed) it would
// otherwise read the whole range and sort it for every batch. The
// transaction, its settings and the statement go in one round trip.
func (s *Store) queryScan(ctx context.Context, sql string, args []any, each func(pgx.Rows) error) (err error) {
	b := &pgx.Batch{}
	b.Queue("BEGIN READ ONLY")
	b.Queue("SET LOCAL enable_sort = off")
	b.Queue("SET LOCAL enable_incremental_sort = off")
	b.Queue(sql, args...)
	b.Queue("COMMIT")
	br := s.pool.SendBatch(ctx, b)
	defer func() {
		if cerr := br.Close(); err == nil {
			err = cerr
		}
	}()
	for range 3 {
		if _, err := br.Exec(); err != nil {
			return err
		}
	}
	rows, err := br.Query()
	if err != nil {
		return err
	}
	err = each(rows)
	rows.Close()
	if err == nil {
		err = rows.Err()
	}
	if err != nil {
		return err
	}
	_, err = br.Exec()
	return err
}

// scanQuery is the statement of a batch of n rows after the key of after
// (nil: from the start).
func scanQuery(q SignalScan, after *scanRow, n int) (string, []any) {
	// Only the filters given are in the statement, so that each shape gets
	// a plan on the index (see QuerySeries).
	var a sqlArgs
	where := "TRUE"
	if q.Tenant != "" {
		where += " AND tenant = " + a.arg(q.Tenant)
	}
	if q.Host != "" {
		where += " AND source_id = " + a.arg(q.Host)
	}
	if !q.From.IsZero() {
		where += " AND ts >= " + a.arg(q.From)
	}
	if !q.To.IsZero() {
		where += " AND ts < " + a.arg(q.To)
	}
	if after != nil {
		where += " AND (tenant, source_id, id) > (" + a.arg(after.tenant) + "::text, " +
			a.arg(after.host) + "::text, " + a.arg(after.id) + "::int8)"
	}
	return `SELECT tenant, source_id, id, ts, ingested_at, metric, series_id, value, unit, tags, meta FROM metrics WHERE ` + where +
		` ORDER BY tenant, source_id, id LIMIT ` + a.arg(n), a.args
}

// seriesKey names a series within its source.
type seriesKey struct {
	metric string
	series int64
}

// signalScanner groups a source's consecutive rows of one event and
// receive time into signals.
type signalScanner struct {
	fn func(*tables.Signal) error
	// The open signal: its source, event and receive times, and what it
	// has so far.
	tenant, host string
	ts, ingested time.Time
	cur          *tables.Signal

	// The decoded tags of the open source's series (series_id is the hash
	// of metric and tags, so a series' tags never change), and the last
	// metadata decoded: a source's rows repeat both.
	tags    map[seriesKey]tables.Tags
	metaRaw []byte
	meta    *tables.SourceMeta
}

func (sc *signalScanner) add(ctx context.Context, r *scanRow) error {
	if sc.cur == nil || sc.tenant != r.tenant || sc.host != r.host || !sc.ts.Equal(r.ts) || !sc.ingested.Equal(r.ingested) {
		if err := sc.flush(ctx); err != nil {
			return err
		}
		if sc.tenant != r.tenant || sc.host != r.host {
			clear(sc.tags)
			sc.tenant, sc.host = r.tenant, r.host
		}
		meta, err := sc.decodeMeta(r)
		if err != nil {
			return err
		}
		sc.ts, sc.ingested = r.ts, r.ingested
		sc.cur = &tables.Signal{Tenant: r.tenant, Host: r.host, Meta: meta}
	}
	tags, err := sc.decodeTags(r)
	if err != nil {
		return err
	}
	sc.cur.Samples = append(sc.cur.Samples, tables.Sample{
		Metric: r.metric, Unit: r.unit, Value: r.value, TsMicro: r.ts.UnixMicro(), Tags: tags,
	})
	return nil
}

// flush hands the open signal, if any, to fn.
func (sc *signalScanner) flush(ctx context.Context) error {
	sig := sc.cur
	if sig == nil {
		return nil
	}
	sc.cur = nil
	if err := ctx.Err(); err != nil {
		return err
	}
	return sc.fn(sig)
}

func (sc *signalScanner) decodeTags(r *scanRow) (tables.Tags, error) {
	k := seriesKey{r.metric, r.series}
	if t, ok := sc.tags[k]; ok {
		return t, nil
	}
	t, err := decodeTags(r.tags)
	if err != nil {
		return nil, fmt.Errorf("store: scan signals: tags of %s/%s %s: %w", r.tenant, r.host, r.metric, err)
	}
	if sc.tags == nil {
		sc.tags = map[seriesKey]tables.Tags{}
	}
	sc.tags[k] = t
	return t, nil
}

func (sc *signalScanner) decodeMeta(r *scanRow) (*tables.SourceMeta, error) {
	if len(r.meta) == 0 || string(r.meta) == "null" {
		return nil, nil
	}
	if sc.meta != nil && string(sc.metaRaw) == string(r.meta) {
		return sc.meta, nil
	}
	m, err := tables.ParseSourceMeta(r.meta)
	if err != nil {
		return nil, fmt.Errorf("store: scan signals: %s/%s: %w", r.tenant, r.host, err)
	}
	sc.metaRaw = append(sc.metaRaw[:0], r.meta...)
	sc.meta = m
	return m, nil
}
