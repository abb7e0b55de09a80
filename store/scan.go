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

// scanRow is one row of a source, as read.
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
// It lists the sources first, from the sources table (WriteMetrics keeps
// a row there for every source it writes, in the transaction that writes
// the rows, with the span of event times written; migration 00003 filled
// it from the rows before it; retention drops rows, never sources): those
// whose span misses q's range are skipped. Then it reads each source in a
// query of its own, which the primary key's (tenant, source_id) prefix
// serves and the server sorts by id: metrics has no index for the scan,
// whose upkeep would cost every write. Rows are handed on one by one as
// they arrive, so its memory is the list of sources, one row and one
// signal whatever the range. While fn runs, the query of the source being
// read stays open, with its snapshot: rows written to that source
// meanwhile are not read, rows written to the sources after it are;
// sources that first appear after the list was read are not. It stops at
// ctx's end (returning ctx.Err()) and at fn's first error, which it
// returns as is; the source's query has ended by then.
func (s *Store) ScanSignals(ctx context.Context, q SignalScan, fn func(*tables.Signal) error) error {
	sources, err := s.scanSources(ctx, q)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return err
	}
	sc := signalScanner{fn: fn}
	for _, src := range sources {
		if err := s.scanSource(ctx, q, src, &sc); err != nil {
			return err
		}
	}
	return nil
}

// scanSource is one source a scan reads.
type scanSource struct{ tenant, host string }

// scanSources lists q's sources in tenant, host order: those whose span of
// event times meets q's range.
func (s *Store) scanSources(ctx context.Context, q SignalScan) ([]scanSource, error) {
	var a sqlArgs
	where := "TRUE"
	if q.Tenant != "" {
		where += " AND tenant = " + a.arg(q.Tenant)
	}
	if q.Host != "" {
		where += " AND source_id = " + a.arg(q.Host)
	}
	if !q.From.IsZero() {
		where += " AND last_seen >= " + a.arg(q.From)
	}
	if !q.To.IsZero() {
		where += " AND first_seen < " + a.arg(q.To)
	}
	rows, err := s.pool.Query(ctx, `SELECT tenant, source_id FROM sources WHERE `+where+` ORDER BY tenant, source_id`, a.args...)
	if err != nil {
		return nil, fmt.Errorf("store: scan signals: sources: %w", err)
	}
	defer rows.Close()
	var out []scanSource
	for rows.Next() {
		var src scanSource
		if err := rows.Scan(&src.tenant, &src.host); err != nil {
			return nil, fmt.Errorf("store: scan signals: sources: %w", err)
		}
		out = append(out, src)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: scan signals: sources: %w", err)
	}
	return out, nil
}

// scanSource reads src's rows in q's range, in id order, into sc, and
// flushes its last signal.
func (s *Store) scanSource(ctx context.Context, q SignalScan, src scanSource, sc *signalScanner) error {
	// A context of its own: on fn's error the query is cancelled rather
	// than read to its end.
	qctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sql, args := sourceQuery(q, src)
	rows, err := s.pool.Query(qctx, sql, args...)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("store: scan signals: %s/%s: %w", src.tenant, src.host, err)
	}
	defer rows.Close()
	var r scanRow
	for rows.Next() {
		if err := rows.Scan(&r.tenant, &r.host, &r.id, &r.ts, &r.ingested, &r.metric, &r.series, &r.value, &r.unit, &r.tags, &r.meta); err != nil {
			return fmt.Errorf("store: scan signals: %s/%s: %w", src.tenant, src.host, err)
		}
		if err := sc.add(ctx, &r); err != nil {
			cancel()
			return err
		}
	}
	if err := rows.Err(); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("store: scan signals: %s/%s: %w", src.tenant, src.host, err)
	}
	// The source's last signal is whole.
	return sc.flush(ctx)
}

// sourceQuery is the statement that reads src's rows in q's range, in id
// order.
func sourceQuery(q SignalScan, src scanSource) (string, []any) {
	// Only the bounds given are in the statement (see QuerySeries).
	var a sqlArgs
	where := "tenant = " + a.arg(src.tenant) + " AND source_id = " + a.arg(src.host)
	if !q.From.IsZero() {
		where += " AND ts >= " + a.arg(q.From)
	}
	if !q.To.IsZero() {
		where += " AND ts < " + a.arg(q.To)
	}
	return `SELECT tenant, source_id, id, ts, ingested_at, metric, series_id, value, unit, tags, meta FROM metrics WHERE ` + where +
		` ORDER BY id`, a.args
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
