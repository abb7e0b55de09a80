package bench

import (
	"context"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/eventops/eventops/loadgen"
)

// SoakOptions configure a soak (Options.Soak): a long run at a steady
// rate while hosts come and go.
type SoakOptions struct {
	// For is the length of the load.
	For time.Duration
	// Series is how many series report over the whole run: hosts ×
	// Options.Metrics, of which Churn replaces a share every minute.
	Series int64
	// Rate is the load in events per second; 0 runs at half the sustained
	// rate, measured first over a backlog of Options.Events events of the
	// soak's first hosts.
	Rate float64
	// Churn is the share of the hosts reporting at a time that stop
	// sending each minute, replaced by as many new host names.
	Churn float64
	// SampleEvery is how often memory is sampled (default: For / 200,
	// between 1 s and 5 s).
	SampleEvery time.Duration
}

// activeHosts is how many hosts report at a time so that Series series
// report over the run: the first ones, and Churn × activeHosts new ones
// each minute.
func (s SoakOptions) activeHosts(metrics int) int {
	hosts := float64(s.Series) / float64(metrics)
	return max(1, int(math.Round(hosts/(1+s.Churn*s.For.Minutes()))))
}

func (s SoakOptions) sampleEvery() time.Duration {
	if s.SampleEvery > 0 {
		return s.SampleEvery
	}
	return min(max(s.For/200, time.Second), 5*time.Second)
}

// SoakResult is what `eventops bench --soak` prints.
type SoakResult struct {
	Machine  string `json:"machine"`
	Scenario string `json:"scenario"`
	// Capacity is the run that measured the sustained rate, when the
	// rate was not given.
	Capacity *PipelineResult `json:"capacity,omitempty"`
	Rate     float64         `json:"events_per_sec"`
	Duration time.Duration   `json:"duration_ns"`
	// Hosts reported over the run, ActiveHosts at a time; Series is Hosts
	// × metrics.
	Hosts          int           `json:"hosts"`
	ActiveHosts    int           `json:"active_hosts"`
	Series         int64         `json:"series"`
	ChurnPerMinute float64       `json:"churn_per_minute"`
	IdleTimeout    time.Duration `json:"idle_timeout_ns"`
	// ReportEvery is how often each host reports: a host is idle (and
	// may leave memory) only if IdleTimeout is well above it.
	ReportEvery time.Duration `json:"report_interval_ns"`
	// EventsSent counts the backlog of the capacity run too; after the
	// pipeline drained, EventsInPostgres is what its metrics table holds.
	EventsSent       int64 `json:"events_sent"`
	EventsInPostgres int64 `json:"events_in_postgres"`
	// Undelivered counts the records the broker did not take; Drain is
	// how long the pipeline took to write what was sent once the load
	// stopped (at most max(5 min, the soak / 6): a pipeline still behind
	// then has fewer events in PostgreSQL than were sent).
	Undelivered int64         `json:"records_undelivered"`
	Drain       time.Duration `json:"drain_ns"`
	Evictions   int64         `json:"source_actors_evicted"`
	ActorsAtEnd int64         `json:"source_actors_at_end"`
	// Quarters of the load, by the time of their samples.
	Quarters [4]SoakQuarter `json:"quarters"`
	// Flat holds when the highest RSS of the last quarter is at most that
	// of the second.
	Flat bool `json:"flat"`
	// HeapPerSeries is the median live heap of the last quarter over the
	// series of the source actors in memory then, the pipeline's own heap
	// included.
	HeapPerSeries float64        `json:"heap_live_bytes_per_series_in_memory"`
	PeakRSS       int64          `json:"peak_rss_bytes"`
	BrokerRSS     int64          `json:"broker_rss_bytes_at_end"`
	Samples       []MemorySample `json:"samples"`
}

// SoakQuarter is the memory of a quarter of the soak: the highest and the
// median of its samples.
type SoakQuarter struct {
	Samples        int   `json:"samples"`
	MaxRSS         int64 `json:"max_rss_bytes"`
	MedianRSS      int64 `json:"median_rss_bytes"`
	MaxHeapLive    int64 `json:"max_heap_live_bytes"`
	MedianHeapLive int64 `json:"median_heap_live_bytes"`
	MaxHeapInUse   int64 `json:"max_heap_in_use_bytes"`
	MedianActors   int64 `json:"median_source_actors"`
}

// Soak runs the pipeline Run measures (its broker process, a fresh
// database, every stage but notify) under a steady live load of o.Soak for
// o.Soak.For while hosts come and go, samples its memory, then lets it
// drain and counts the rows: memory bounded by the hosts reporting, not by
// those that ever did, stays flat.
func Soak(ctx context.Context, o Options) (SoakResult, error) {
	so := o.Soak
	active := so.activeHosts(o.Metrics)
	res := SoakResult{Machine: Machine(), Duration: so.For, ActiveHosts: active, ChurnPerMinute: so.Churn,
		IdleTimeout: o.Replica.SourceIdle}
	res.Scenario = fmt.Sprintf("%d hosts × %d metrics reporting at a time, %.0f%% of them replaced by new hosts each minute, for %s, %d event(s) per record",
		active, o.Metrics, so.Churn*100, so.For, o.PerRecord)
	// A tenant's series in memory are bounded; the soak's one tenant may
	// have every series it sends.
	o.Replica.MaxTenantSeries = max(o.Replica.MaxTenantSeries, int(so.Series))
	e, err := setup(ctx, &o, true)
	if err != nil {
		return res, err
	}
	defer e.close()
	lo := loadgen.Options{Sources: active, Metrics: o.Metrics, PerRecord: o.PerRecord, Seed: 3}
	p, err := soakPipeline(ctx, &o, e, lo, &res)
	if p != nil {
		defer p.stop()
	}
	if err != nil {
		return res, err
	}
	if res.Rate = so.Rate; res.Rate <= 0 {
		res.Rate = res.Capacity.EventsPerSec / 2
	}
	res.ReportEvery = loadgen.LiveInterval(active*o.Metrics, res.Rate)
	o.say("soak: %.0f events/s for %s over %d hosts × %d metrics at a time, each reporting every %s, %.0f%% replaced each minute…",
		res.Rate, so.For, active, o.Metrics, res.ReportEvery.Round(time.Millisecond), so.Churn*100)
	if res.IdleTimeout < 2*res.ReportEvery {
		o.say("soak: the idle timeout %s is under two report intervals: hosts that still report will leave memory between reports", res.IdleTimeout)
	}
	sctx, stopSampling := context.WithCancel(ctx)
	defer stopSampling()
	mem := sampleMemory(sctx, so.sampleEvery(), p.reg)
	loadDone, err := liveLoad(ctx, e, lo, so.Churn, res.Rate, so.For)
	if err != nil {
		return res, err
	}
	half := time.AfterFunc(so.For/2, func() { heapProfile(&o, ".half") })
	load := <-loadDone
	half.Stop()
	heapProfile(&o, "")
	stopSampling()
	res.Samples = <-mem
	res.EventsSent += load.Events
	lo.Churn = so.Churn * float64(active) * res.ReportEvery.Minutes()
	res.Hosts = lo.SourcesSent(load.Events)
	res.Series = int64(res.Hosts) * int64(o.Metrics)
	res.Undelivered = load.Errors
	o.say("soak: %d events sent; waiting for them in PostgreSQL…", res.EventsSent)
	// A pipeline that fell behind still gets its report, with what it
	// wrote by the deadline.
	drained := time.Now()
	dctx, cancel := context.WithTimeout(ctx, max(5*time.Minute, so.For/6))
	defer cancel()
	if err := p.awaitRows(dctx, float64(res.EventsSent)); err != nil && ctx.Err() != nil {
		return res, err
	}
	res.Drain = time.Since(drained)
	if res.EventsInPostgres, err = countMetricRows(ctx, e.dbURL); err != nil {
		return res, err
	}
	res.Evictions = int64(Sum(p.reg, "eventops_source_actors_evicted_total", nil))
	res.ActorsAtEnd = int64(Sum(p.reg, "eventops_source_actors", nil))
	res.PeakRSS, res.BrokerRSS = PeakRSS(), PidRSS(e.broker.pid)
	res.Quarters = quarters(res.Samples, so.For)
	res.Flat = res.Quarters[3].MaxRSS <= res.Quarters[1].MaxRSS
	if q := res.Quarters[3]; q.MedianActors > 0 {
		res.HeapPerSeries = float64(q.MedianHeapLive) / float64(q.MedianActors*int64(o.Metrics))
	}
	return res, p.stop()
}

// soakPipeline starts the pipeline: straight away when the soak's rate is
// given, else after measuring its sustained rate over a backlog of the
// soak's first hosts (lo), which it holds in res.Capacity.
func soakPipeline(ctx context.Context, o *Options, e *env, lo loadgen.Options, res *SoakResult) (*pipeline, error) {
	if o.Soak.Rate > 0 {
		p, err := startPipeline(ctx, o, e)
		if err == nil {
			err = p.awaitReady(ctx)
		}
		return p, err
	}
	per := int64(lo.Sources * lo.Metrics)
	lo.Rounds, lo.Keyed, lo.Seed = max(1, (o.Events+per-1)/per), true, 1
	o.say("measuring the sustained rate first (--rate skips it)")
	total, err := preload(ctx, o, e, lo)
	if err != nil {
		return nil, err
	}
	res.EventsSent, res.Capacity = total, &PipelineResult{}
	co := *o
	co.MemProfile = "" // the soak's own profiles go there
	p, err := capacity(ctx, &co, e, total, res.Capacity)
	if err != nil {
		return p, fmt.Errorf("capacity run: %w", err)
	}
	return p, nil
}

// heapProfile writes a heap profile to o.MemProfile+suffix, when set: at
// the soak's half-way point (".half") and at its end, so that
// `go tool pprof -diff_base` shows what the second half added.
func heapProfile(o *Options, suffix string) {
	if o.MemProfile == "" {
		return
	}
	if err := writeHeapProfile(o.MemProfile + suffix); err != nil {
		o.say("soak: heap profile: %v", err)
	}
}

// countMetricRows counts the metrics table's rows.
func countMetricRows(ctx context.Context, dbURL string) (int64, error) {
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return 0, err
	}
	defer conn.Close(ctx)
	var n int64
	err = conn.QueryRow(ctx, `SELECT count(*) FROM metrics`).Scan(&n)
	return n, err
}

// quarters splits samples taken over d into its four quarters.
func quarters(samples []MemorySample, d time.Duration) [4]SoakQuarter {
	var by [4][]MemorySample
	for _, s := range samples {
		q := min(3, max(0, int(4*s.At/max(d, 1))))
		by[q] = append(by[q], s)
	}
	var out [4]SoakQuarter
	for i, ss := range by {
		if len(ss) == 0 {
			continue
		}
		q := &out[i]
		q.Samples = len(ss)
		field := func(f func(MemorySample) int64) (hi, median int64) {
			vs := make([]int64, len(ss))
			for j, s := range ss {
				vs[j] = f(s)
			}
			slices.Sort(vs)
			return vs[len(vs)-1], vs[len(vs)/2]
		}
		q.MaxRSS, q.MedianRSS = field(func(s MemorySample) int64 { return s.RSS })
		q.MaxHeapLive, q.MedianHeapLive = field(func(s MemorySample) int64 { return s.HeapLive })
		q.MaxHeapInUse, _ = field(func(s MemorySample) int64 { return s.HeapInUse })
		_, q.MedianActors = field(func(s MemorySample) int64 { return s.Actors })
	}
	return out
}
