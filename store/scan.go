package store

import (
	"context"
	"fmt"
	"time"

	"github.com/eventops/eventops/tables"
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
// times. A resent sample is stored once, where it first arrived. A signal's Meta is the metadata
// stored with its first sample; signals of a source that carry the same
// metadata share one *tables.SourceMeta, and samples of one series share
// their Tags: neither may be modified. IngestMicro and Origin are zero.
//
// It reads keyset-paginated batches of a few thousand rows (the index
// metrics_source_id serves the order), each in a short query of its own:
// its memory is one batch and one signal whatever the range, and it holds
// no transaction open while fn runs (nor a snapshot: rows written during a
// scan ahead of its position are read). It stops at ctx's end (returning
// ctx.Err()) and at fn's first error, which it returns as is.
func (s *Store) ScanSignals(ctx context.Context, q SignalScan, fn func(*tables.Signal) error) error {
	batch := s.scanBatch
	if batch <= 0 {
		batch = defaultScanBatch
	}
	sc := signalScanner{fn: fn}
	rows := make([]scanRow, 0, batch)
	var after *scanRow
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		var err error
		rows, err = s.scanBatchRows(ctx, q, after, batch, rows[:0])
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		for i := range rows {
			if err := sc.add(ctx, &rows[i]); err != nil {
				return err
			}
		}
		if len(rows) < batch {
			// The last batch: the signal still open is whole.
			return sc.flush(ctx)
		}
		// The open signal may go on in the next batch; it is flushed when
		// a row of another source or time arrives or the scan ends.
		last := rows[len(rows)-1]
		after = &last
	}
}

// scanBatchRows reads the next batch of rows after the key of after (nil:
// from the start) into buf.
func (s *Store) scanBatchRows(ctx context.Context, q SignalScan, after *scanRow, n int, buf []scanRow) ([]scanRow, error) {
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
	sql := `SELECT tenant, source_id, id, ts, ingested_at, metric, series_id, value, unit, tags, meta FROM metrics WHERE ` + where +
		` ORDER BY tenant, source_id, id LIMIT ` + a.arg(n)
	rows, err := s.pool.Query(ctx, sql, a.args...)
	if err != nil {
		return nil, fmt.Errorf("store: scan signals: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		buf = append(buf, scanRow{})
		r := &buf[len(buf)-1]
		if err := rows.Scan(&r.tenant, &r.host, &r.id, &r.ts, &r.ingested, &r.metric, &r.series, &r.value, &r.unit, &r.tags, &r.meta); err != nil {
			return nil, fmt.Errorf("store: scan signals: %w", err)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: scan signals: %w", err)
	}
	return buf, nil
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
