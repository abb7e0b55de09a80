package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eventops/eventops/loadgen"
	"github.com/eventops/eventops/tables"
	"github.com/eventops/eventops/tables/kgotables"
)

// Result is what `eventops bench --json` prints.
type Result struct {
	Machine  string                `json:"machine"`
	Scenario string                `json:"scenario"`
	Ceilings map[string]Throughput `json:"ceilings,omitempty"`
	Pipeline PipelineResult        `json:"pipeline"`
	Latency  LatencyResult         `json:"latency"`
	Ratios   map[string]float64    `json:"ratios,omitempty"`
}

// PipelineResult is the capacity run: the pipeline draining a backlog.
type PipelineResult struct {
	Events           int64         `json:"events"`
	Elapsed          time.Duration `json:"elapsed_ns"`
	EventsPerSec     float64       `json:"events_per_sec"`
	CPUPer1000       float64       `json:"cpu_seconds_per_1000_events"`
	PostgresCPUPer1k float64       `json:"postgres_cpu_seconds_per_1000_events"`
	BrokerCPUPer1k   float64       `json:"broker_cpu_seconds_per_1000_events"`
	ChangelogBytes   float64       `json:"changelog_bytes_per_event"`
	// The features table at the end of the run: its sources (keys), the
	// mean size of a source's latest encoded state, and that divided by
	// the series of a source (the scenario's metrics, untagged).
	TableKeys           int     `json:"table_sources"`
	StateBytesPerSource float64 `json:"state_bytes_per_source"`
	StateBytesPerSeries float64 `json:"state_bytes_per_series"`
	PeakRSS             int64   `json:"peak_rss_bytes"`
	// StageCPU is eventops's CPU time per event, in µs, by the stage it
	// worked for (a CPU profile of the run, by profiler label; Unlabelled
	// is the garbage collector's workers and goroutines of no stage).
	StageCPU map[string]float64 `json:"cpu_us_per_event_by_stage"`
}

// LatencyResult is the latency run: live load at half the sustained rate,
// with probe events timed to their alert and their row.
type LatencyResult struct {
	Rate float64 `json:"events_per_sec"`
	// Probes were sent, evenly over the run; Alerts of their alerts and
	// Rows of their rows were timed.
	Probes   int           `json:"probes_sent"`
	Alerts   int           `json:"alerts_timed"`
	Rows     int           `json:"rows_timed"`
	AlertP50 time.Duration `json:"alert_p50_ns"`
	AlertP95 time.Duration `json:"alert_p95_ns"`
	AlertP99 time.Duration `json:"alert_p99_ns"`
	RowP50   time.Duration `json:"row_p50_ns"`
	RowP99   time.Duration `json:"row_p99_ns"`
	LagAtEnd int64         `json:"events_behind_at_end"`
	RSSAtEnd int64         `json:"rss_bytes_at_end"`
	PeakRSS  int64         `json:"peak_rss_bytes"`
	// RSS sampled every second: the highest of the first and of the
	// second half of the run; bounded memory keeps them close.
	MaxRSSFirstHalf  int64 `json:"max_rss_first_half_bytes"`
	MaxRSSSecondHalf int64 `json:"max_rss_second_half_bytes"`
}

// latency runs the load at half the measured rate (or LatencyLoad of it)
// and times probe alerts
// (event produced → alert on the SSE stream) and probe rows (event produced
// → row visible in PostgreSQL).
func latency(ctx context.Context, o *Options, e *env, p *pipeline, already int64, res *Result) error {
	lr := &res.Latency
	share := o.LatencyLoad
	if share <= 0 {
		share = 0.5
	}
	lr.Rate = res.Pipeline.EventsPerSec * share
	o.say("latency run: %.0f events/s for %s with %d probe alerts…", lr.Rate, o.LatencyFor, o.Probes)
	if o.Probes <= 0 {
		return errors.New("latency run: no probes")
	}
	lctx, cancel := context.WithTimeout(ctx, o.LatencyFor)
	defer cancel()
	lo := loadgen.Options{Sources: o.Sources, Metrics: o.Metrics, PerRecord: o.PerRecord, Seed: 2}
	loadDone, err := liveLoad(lctx, e, lo, 0, lr.Rate, 0)
	if err != nil {
		return err
	}
	mem := sampleMemory(lctx, time.Second, p.reg)
	// How far behind is the pipeline when the load stops? (The probes'
	// last alerts and rows are awaited after that.)
	rowsAtEnd := make(chan float64, 1)
	go func() {
		<-lctx.Done()
		rowsAtEnd <- p.rowsInserted()
	}()
	sctx, scancel := context.WithCancel(ctx)
	defer scancel()
	arrivals := firingAlerts(sctx, p.api, o.Probes*2)
	alertLat, rowLat, sent, err := probe(ctx, o, e, arrivals)
	if err != nil {
		return err
	}
	cancel()
	load := <-loadDone
	samples := <-mem
	half := len(samples) / 2
	for i, v := range samples {
		if i < half {
			lr.MaxRSSFirstHalf = max(lr.MaxRSSFirstHalf, v.RSS)
		} else {
			lr.MaxRSSSecondHalf = max(lr.MaxRSSSecondHalf, v.RSS)
		}
	}
	lr.LagAtEnd = int64(float64(already+load.Events+int64(sent)) - <-rowsAtEnd)
	lr.Probes, lr.Alerts, lr.Rows = sent, len(alertLat), len(rowLat)
	ps := Percentiles(alertLat, 0.5, 0.95, 0.99)
	lr.AlertP50, lr.AlertP95, lr.AlertP99 = ps[0], ps[1], ps[2]
	rs := Percentiles(rowLat, 0.5, 0.99)
	lr.RowP50, lr.RowP99 = rs[0], rs[1]
	lr.RSSAtEnd, lr.PeakRSS = RSS(), PeakRSS()
	return nil
}

// liveLoad sends lo's load at rate as live agents, for d (0: until ctx
// ends): every series reports once per interval of the wall clock, so that
// the load's event time stays at the broker's (the sources' future bound is
// small) while it runs at the rate. churn is the share of lo's sources
// replaced each minute by new ones (hosts coming and going).
func liveLoad(ctx context.Context, e *env, lo loadgen.Options, churn, rate float64, d time.Duration) (<-chan loadgen.Summary, error) {
	every := loadgen.LiveInterval(lo.Sources*lo.Metrics, rate)
	lo.Keyed, lo.Interval, lo.Start = true, every, time.Now().Truncate(every)
	lo.Churn = churn * float64(lo.Sources) * every.Minutes()
	gen := loadgen.NewGenerator(lo, time.Now())
	sink, err := loadgen.NewKafkaSink(e.brokers)
	if err != nil {
		return nil, err
	}
	done := make(chan loadgen.Summary, 1)
	go func() {
		defer sink.Close()
		s, _ := loadgen.Run(ctx, gen, sink, loadgen.RunOptions{Rate: rate, Speed: 1, Duration: d})
		done <- s
	}()
	return done, nil
}

// arrival is a firing alert seen on the SSE stream.
type arrival struct {
	host string
	at   time.Time
}

// firingAlerts reads the probe tenant's alert stream until ctx ends and
// passes on when each firing alert arrived.
func firingAlerts(ctx context.Context, api string, buffer int) <-chan arrival {
	arrivals := make(chan arrival, buffer)
	go func() {
		defer close(arrivals)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, api+"/alerts/stream?tenant="+probeTenant, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return
		}
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				var a struct{ Host, State string }
				if json.Unmarshal([]byte(data), &a) == nil && a.State == "firing" {
					arrivals <- arrival{a.Host, time.Now()}
				}
			}
		}
	}()
	return arrivals
}

// probeTenant is the tenant of the probes' sources.
const probeTenant = "probe"

// probeWait is how long after the latency run a probe's alert and row are
// still awaited.
const probeWait = 10 * time.Second

// probes are the probe events sent so far and what was timed of them.
type probes struct {
	mu       sync.Mutex
	sent     map[string]time.Time // by host
	rowsDue  map[string]time.Time // sent, row not seen yet
	alerted  map[string]bool
	alertLat []time.Duration
	rowLat   []time.Duration
}

func (p *probes) send(host string, at time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.sent[host], p.rowsDue[host] = at, at
}

// alert times a probe's first firing alert; others are not probes'.
func (p *probes) alert(a arrival) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if sent, ok := p.sent[a.host]; ok && !p.alerted[a.host] {
		p.alerted[a.host] = true
		p.alertLat = append(p.alertLat, a.at.Sub(sent))
	}
}

// row times a probe's row, seen at at.
func (p *probes) row(host string, at time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if sent, ok := p.rowsDue[host]; ok {
		delete(p.rowsDue, host)
		p.rowLat = append(p.rowLat, at.Sub(sent))
	}
}

// due returns the hosts whose rows are not seen yet, and whether every
// probe's alert and row was timed.
func (p *probes) due() (hosts []string, done bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for h := range p.rowsDue {
		hosts = append(hosts, h)
	}
	return hosts, len(hosts) == 0 && len(p.alerted) == len(p.sent)
}

// probe sends o.Probes probe events, evenly over the latency run (o.LatencyFor
// from now; a sender the loaded machine made late still sends them all),
// each a new source whose event fires HighCPU, without waiting for one to
// be timed before sending the next; it times each one's alert on the SSE
// stream and its row in PostgreSQL (polled every 5 ms), waiting up to
// probeWait after the last was sent. It returns the latencies timed and
// how many probes were sent.
func probe(ctx context.Context, o *Options, e *env, arrivals <-chan arrival) (alertLat, rowLat []time.Duration, sent int, err error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.brokers...), kgo.RecordPartitioner(kgotables.Partitioner()))
	if err != nil {
		return nil, nil, 0, err
	}
	defer cl.Close()
	conn, err := pgx.Connect(ctx, e.dbURL)
	if err != nil {
		return nil, nil, 0, err
	}
	defer conn.Close(ctx)
	ps := &probes{sent: map[string]time.Time{}, rowsDue: map[string]time.Time{}, alerted: map[string]bool{}}
	go func() {
		for a := range arrivals {
			ps.alert(a)
		}
	}()
	sendErr := make(chan error, 1)
	sending := make(chan struct{})
	go func() {
		defer close(sending)
		sendErr <- sendProbes(ctx, cl, o, ps, &sent)
	}()
	// Poll for rows until every probe was timed, or probeWait after the
	// probes were sent.
	deadline := time.Time{}
	for {
		select {
		case <-sending:
			if deadline.IsZero() {
				deadline = time.Now().Add(probeWait)
			}
		default:
		}
		hosts, done := ps.due()
		if !deadline.IsZero() && (done || time.Now().After(deadline)) {
			break
		}
		if len(hosts) > 0 {
			rows, err := conn.Query(ctx, `SELECT DISTINCT source_id FROM metrics WHERE tenant = $1 AND source_id = ANY($2)`, probeTenant, hosts)
			if err != nil {
				return nil, nil, 0, err
			}
			at := time.Now()
			for rows.Next() {
				var h string
				if err := rows.Scan(&h); err != nil {
					return nil, nil, 0, err
				}
				ps.row(h, at)
			}
			if err := rows.Err(); err != nil {
				return nil, nil, 0, err
			}
		}
		select {
		case <-ctx.Done():
			return nil, nil, 0, ctx.Err()
		case <-time.After(5 * time.Millisecond): // the poll interval
		}
	}
	if err := <-sendErr; err != nil {
		return nil, nil, 0, err
	}
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return slices.Clone(ps.alertLat), slices.Clone(ps.rowLat), sent, nil
}

// sendProbes produces the probe events on their schedule until all are
// sent or ctx ends, and waits until the broker has them.
func sendProbes(ctx context.Context, cl *kgo.Client, o *Options, ps *probes, sent *int) error {
	interval := o.LatencyFor / time.Duration(o.Probes+1)
	start := time.Now()
	var failed error
	var mu sync.Mutex
	for i := 0; i < o.Probes; i++ {
		select {
		case <-ctx.Done():
		case <-time.After(time.Until(start.Add(time.Duration(i) * interval))):
		}
		if ctx.Err() != nil {
			break
		}
		host := fmt.Sprintf("probe-%05d", i)
		now := time.Now()
		v := fmt.Sprintf(`{"tenant_id":%q,"host":%q,"metric":"cpu_load","value":99,"ts_event":%q}`, probeTenant, host, now.Format(time.RFC3339Nano))
		ps.send(host, now)
		*sent++
		cl.Produce(context.WithoutCancel(ctx), &kgo.Record{Topic: tables.RawTopic, Key: []byte(probeTenant + "/" + host), Value: []byte(v)},
			func(_ *kgo.Record, err error) {
				if err != nil {
					mu.Lock()
					failed = err
					mu.Unlock()
				}
			})
	}
	if err := cl.Flush(context.WithoutCancel(ctx)); err != nil {
		return err
	}
	mu.Lock()
	defer mu.Unlock()
	return failed
}
