package loadgen

import (
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"strconv"
	"time"
)

// Anomaly holds one series at Value for rounds [From, To).
type Anomaly struct {
	Tenant, Source, Metric int
	From, To               int64
	Value                  float64
}

// Options describe the synthetic agents.
type Options struct {
	Tenants int // default 1
	// Tenant names the one tenant (Tenants 1) instead of tenant-00: the
	// tenant an API key may write.
	Tenant  string
	Sources int // per tenant, default 100
	// Churn is how many sources of a tenant are replaced each round, as
	// hosts come and go: round r's sources are the Sources consecutive ones
	// from floor(r × Churn) on, so the oldest stop sending and as many new
	// names appear (0: the same sources every round).
	Churn   float64
	Metrics int // per source, default 10
	// Interval is the event-time spacing of one series (default 10 s).
	Interval time.Duration
	// Start is the event time of round 0 (default: now, truncated to the
	// interval, minus Rounds × Interval when Rounds is set).
	Start time.Time
	// Rounds bounds the run: every series reports Rounds times (0: no bound).
	Rounds int64
	// Jitter moves each event time by up to ± Jitter.
	Jitter time.Duration
	// OutOfOrder is the share of records held back and sent a little later.
	OutOfOrder float64
	// Malformed is the share of records replaced by poison.
	Malformed float64
	// PerRecord is how many events of one source share a record (a JSON
	// array); 1 sends one JSON object per record (default).
	PerRecord int
	// Keyed keys records by tenant/host (keeps a source's events in order).
	Keyed     bool
	Anomalies []Anomaly
	Seed      uint64
}

func (o Options) withDefaults(now time.Time) Options {
	if o.Tenants <= 0 {
		o.Tenants = 1
	}
	if o.Sources <= 0 {
		o.Sources = 100
	}
	if o.Metrics <= 0 {
		o.Metrics = 10
	}
	if o.Interval <= 0 {
		o.Interval = 10 * time.Second
	}
	if o.PerRecord <= 0 {
		o.PerRecord = 1
	}
	if o.PerRecord > o.Metrics {
		o.PerRecord = o.Metrics
	}
	if o.Start.IsZero() {
		o.Start = now.Truncate(o.Interval).Add(-time.Duration(o.Rounds) * o.Interval)
	}
	return o
}

// Validate reports the first bad option, naming it.
func (o Options) Validate() error {
	switch {
	case o.Tenants < 0 || o.Sources < 0 || o.Metrics < 0:
		return fmt.Errorf("tenants, sources and metrics must not be negative")
	case o.OutOfOrder < 0 || o.OutOfOrder > 1:
		return fmt.Errorf("out_of_order %v is not a share between 0 and 1", o.OutOfOrder)
	case o.Malformed < 0 || o.Malformed > 1:
		return fmt.Errorf("malformed %v is not a share between 0 and 1", o.Malformed)
	case o.Churn < 0:
		return fmt.Errorf("churn must not be negative")
	case o.Jitter < 0:
		return fmt.Errorf("jitter must not be negative")
	case o.Tenant != "" && o.Tenants > 1:
		return fmt.Errorf("tenant %q names one tenant, but tenants is %d", o.Tenant, o.Tenants)
	}
	return nil
}

// metricNames: the first are the metrics the built-in rules read.
var metricNames = []string{"cpu_load", "mem_used_pct", "disk_used_pct", "latency_ms", "http_requests_total"}

// MetricName is the name of metric index m.
func MetricName(m int) string {
	if m < len(metricNames) {
		return metricNames[m]
	}
	return fmt.Sprintf("synthetic_%02d", m)
}

// TenantName and SourceName name tenants and sources.
func TenantName(t int) string { return fmt.Sprintf("tenant-%02d", t) }

// SourceName names source s.
func SourceName(s int) string { return fmt.Sprintf("host-%05d", s) }

// firstSource is the index of the first source that reports in round.
func (o Options) firstSource(round int64) int {
	return int(float64(round) * o.Churn)
}

// SourcesSent is how many sources of a tenant have reported once the
// first events events of a run of one tenant (with no records held back or
// malformed) are sent: with churn, more than Sources.
func (o Options) SourcesSent(events int64) int {
	o = o.withDefaults(time.Time{})
	perRound := int64(o.Sources * o.Metrics)
	if events <= 0 {
		return 0
	}
	last := (events - 1) / perRound // the round of the last event
	inLast := int((events - last*perRound + int64(o.Metrics) - 1) / int64(o.Metrics))
	seen := o.firstSource(last) + inLast
	if last > 0 {
		seen = max(seen, o.firstSource(last-1)+o.Sources)
	}
	return seen
}

// Event is one generated sample.
type Event struct {
	Tenant, Source, Metric int
	Round                  int64
	Ts                     time.Time
	Value                  float64
}

// Value is the deterministic value of a series at a round.
func (o Options) Value(tenant, source, metric int, round int64) float64 {
	for _, a := range o.Anomalies {
		if a.Tenant == tenant && a.Source == source && a.Metric == metric && round >= a.From && round < a.To {
			return a.Value
		}
	}
	h := fnv.New64a()
	fmt.Fprintf(h, "%d/%d/%d/%d", o.Seed, tenant, source, metric)
	phase := float64(h.Sum64()%1000) / 1000 * 2 * math.Pi
	t := float64(round)
	switch MetricName(metric) {
	case "cpu_load":
		return round2(45 + 25*math.Sin(t/30+phase) + noise(o.Seed, tenant, source, metric, round)*5)
	case "mem_used_pct":
		return round2(60 + 10*math.Sin(t/90+phase) + noise(o.Seed, tenant, source, metric, round)*2)
	case "disk_used_pct":
		return round2(40 + 10*math.Sin(phase) + t*0.0001)
	case "latency_ms":
		return round2(80 + 20*math.Abs(noise(o.Seed, tenant, source, metric, round))*3)
	case "http_requests_total":
		return float64(round*10 + int64(source%7))
	}
	return round2(100 + 50*math.Sin(t/20+phase) + noise(o.Seed, tenant, source, metric, round)*10)
}

func round2(v float64) float64 { return math.Round(v*100) / 100 }

// noise is a deterministic value in [-1, 1).
func noise(seed uint64, tenant, source, metric int, round int64) float64 {
	r := rand.New(rand.NewPCG(seed^uint64(tenant)<<48^uint64(source)<<24^uint64(metric), uint64(round)))
	return r.Float64()*2 - 1
}

// Record is one raw record: the events it carries (none when malformed).
type Record struct {
	Key       []byte
	Value     []byte
	Events    []Event
	Malformed bool
}

// Generator yields the records of a run in order. Not safe for concurrent
// use.
type Generator struct {
	o     Options
	rng   *rand.Rand
	round int64
	// next position within the round
	tenant, source, metric int
	held                   []Record
	buf                    []byte
}

// NewGenerator starts a run at event time o.Start (now fills defaults).
func NewGenerator(o Options, now time.Time) *Generator {
	o = o.withDefaults(now)
	return &Generator{o: o, rng: rand.New(rand.NewPCG(o.Seed, 0x5eed))}
}

// Options returns the options in force (defaults filled).
func (g *Generator) Options() Options { return g.o }

// Next returns the next record, false once Rounds are done.
func (g *Generator) Next() (Record, bool) {
	// A held-back record goes out after a few others.
	if len(g.held) > 0 && g.rng.IntN(4) == 0 {
		r := g.held[0]
		g.held = g.held[1:]
		return r, true
	}
	if g.o.Rounds > 0 && g.round >= g.o.Rounds {
		if len(g.held) > 0 {
			r := g.held[0]
			g.held = g.held[1:]
			return r, true
		}
		return Record{}, false
	}
	rec := g.build()
	if g.o.Malformed > 0 && g.rng.Float64() < g.o.Malformed {
		return Record{Key: rec.Key, Value: poison(g.rng), Malformed: true}, true
	}
	if g.o.OutOfOrder > 0 && g.rng.Float64() < g.o.OutOfOrder {
		g.held = append(g.held, rec)
		return g.Next()
	}
	return rec, true
}

// build makes the record of the next PerRecord events of the current source.
func (g *Generator) build() Record {
	o := &g.o
	t, s := g.tenant, g.source+o.firstSource(g.round)
	tenant, host := TenantName(t), SourceName(s)
	if o.Tenant != "" {
		tenant = o.Tenant
	}
	var rec Record
	if o.Keyed {
		rec.Key = []byte(tenant + "/" + host)
	}
	b := g.buf[:0]
	if o.PerRecord > 1 {
		b = append(b, '[')
	}
	for i := 0; i < o.PerRecord && g.metric < o.Metrics; i++ {
		ts := o.Start.Add(time.Duration(g.round) * o.Interval)
		if o.Jitter > 0 {
			ts = ts.Add(time.Duration(g.rng.Int64N(int64(2*o.Jitter))) - o.Jitter)
		}
		ev := Event{Tenant: t, Source: s, Metric: g.metric, Round: g.round, Ts: ts, Value: o.Value(t, s, g.metric, g.round)}
		rec.Events = append(rec.Events, ev)
		if i > 0 {
			b = append(b, ',')
		}
		b = appendEvent(b, tenant, host, ev)
		g.metric++
	}
	if o.PerRecord > 1 {
		b = append(b, ']')
	}
	rec.Value = append([]byte(nil), b...)
	g.buf = b
	if g.metric >= o.Metrics {
		g.metric = 0
		g.source++
		if g.source >= o.Sources {
			g.source = 0
			g.tenant++
			if g.tenant >= o.Tenants {
				g.tenant = 0
				g.round++
			}
		}
	}
	return rec
}

func appendEvent(b []byte, tenant, host string, ev Event) []byte {
	b = append(b, `{"tenant_id":"`...)
	b = append(b, tenant...)
	b = append(b, `","host":"`...)
	b = append(b, host...)
	b = append(b, `","metric":"`...)
	b = append(b, MetricName(ev.Metric)...)
	b = append(b, `","value":`...)
	b = strconv.AppendFloat(b, ev.Value, 'f', -1, 64)
	b = append(b, `,"ts_event":"`...)
	b = ev.Ts.UTC().AppendFormat(b, time.RFC3339Nano)
	return append(b, `"}`...)
}

// poison returns a record the ingest stage must reject.
func poison(rng *rand.Rand) []byte {
	kinds := [][]byte{
		[]byte(`not json at all`),
		[]byte(`{"tenant_id":"t","host":"h","metric":"m","value":"seven"}`),
		[]byte(`{"tenant_id":"t","host":"h","metric":"m","value":"NaN"}`),
		[]byte(`{"tenant_id":"t","host":"h","metric":"m","value":1,"ts_event":"2999-01-01T00:00:00Z"}`),
		[]byte(`{"host":"h","metric":"m","value":1}`),
		[]byte("{\"tenant_id\":\"t\",\"host\":\"\xff\xfe\",\"metric\":\"m\",\"value\":1}"),
	}
	return kinds[rng.IntN(len(kinds))]
}
