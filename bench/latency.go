package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
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
	PeakRSS          int64         `json:"peak_rss_bytes"`
}

// LatencyResult is the latency run: live load at half the sustained rate,
// with probe events timed to their alert and their row.
type LatencyResult struct {
	Rate     float64       `json:"events_per_sec"`
	Alerts   int           `json:"alerts_timed"`
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

// latency runs the load at half the measured rate and times probe alerts
// (event produced → alert on the SSE stream) and probe rows (event produced
// → row visible in PostgreSQL).
func latency(ctx context.Context, o *Options, e *env, p *pipeline, already int64, res *Result) error {
	lr := &res.Latency
	lr.Rate = res.Pipeline.EventsPerSec / 2
	o.say("latency run: %.0f events/s for %s with %d probe alerts…", lr.Rate, o.LatencyFor, o.Probes)
	lctx, cancel := context.WithTimeout(ctx, o.LatencyFor)
	defer cancel()
	lo := loadgen.Options{Sources: o.Sources, Metrics: o.Metrics, PerRecord: o.PerRecord, Seed: 2}
	loadDone, err := liveLoad(lctx, e, lo, 0, lr.Rate, 0)
	if err != nil {
		return err
	}
	mem := sampleMemory(lctx, time.Second, p.reg)
	sctx, scancel := context.WithCancel(ctx)
	defer scancel()
	arrivals := firingAlerts(sctx, p.api, o.Probes*2)
	alertLat, rowLat, err := probe(ctx, lctx, o, e, arrivals)
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
	// How far behind is the pipeline once the load stops?
	lr.LagAtEnd = int64(float64(already+load.Events+int64(len(rowLat))) - p.rowsInserted())
	lr.Alerts = len(alertLat)
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
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, api+"/alerts/stream?tenant=probe", nil)
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

// probe sends o.Probes probe events, spread over the latency run (lctx),
// and times each one's alert and row.
func probe(ctx, lctx context.Context, o *Options, e *env, arrivals <-chan arrival) (alertLat, rowLat []time.Duration, err error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.brokers...), kgo.RecordPartitioner(kgotables.Partitioner()))
	if err != nil {
		return nil, nil, err
	}
	defer cl.Close()
	conn, err := pgx.Connect(ctx, e.dbURL)
	if err != nil {
		return nil, nil, err
	}
	defer conn.Close(ctx)
	var mu sync.Mutex
	interval := o.LatencyFor / time.Duration(o.Probes+1)
	for i := 0; i < o.Probes && lctx.Err() == nil; i++ {
		host := fmt.Sprintf("probe-%04d", i)
		v := fmt.Sprintf(`{"tenant_id":"probe","host":%q,"metric":"cpu_load","value":99,"ts_event":%q}`, host, time.Now().Format(time.RFC3339Nano))
		sent := time.Now()
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: tables.RawTopic, Key: []byte("probe/" + host), Value: []byte(v)}).FirstErr(); err != nil {
			return nil, nil, err
		}
		var wg sync.WaitGroup
		wg.Go(func() {
			if d, ok := awaitRow(ctx, conn, host, sent); ok {
				mu.Lock()
				rowLat = append(rowLat, d)
				mu.Unlock()
			}
		})
		select {
		case a := <-arrivals:
			if a.host == host {
				alertLat = append(alertLat, a.at.Sub(sent))
			}
		case <-time.After(10 * time.Second):
		}
		wg.Wait()
		<-time.After(max(0, interval-time.Since(sent)))
	}
	return alertLat, rowLat, nil
}

// awaitRow polls PostgreSQL for the probe host's row, for up to 30 s from
// sent, and says how long after sent it was seen.
func awaitRow(ctx context.Context, conn *pgx.Conn, host string, sent time.Time) (time.Duration, bool) {
	for time.Since(sent) < 30*time.Second {
		var n int
		_ = conn.QueryRow(ctx, `SELECT count(*) FROM metrics WHERE tenant = 'probe' AND source_id = $1`, host).Scan(&n)
		if n > 0 {
			return time.Since(sent), true
		}
		<-time.After(5 * time.Millisecond)
	}
	return 0, false
}
