package replica

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eventops/eventops/rules"
	"github.com/eventops/eventops/store"
	"github.com/eventops/eventops/tables"
)

const warmRules = `
metrics: [{name: cpu_load, kind: gauge, unit: percent}]
groups:
  - name: host
    rules:
      - alert: HotHour
        expr: avg("cpu_load", "1h") > 500
`

// warmWindow is the 1h window of a source's cpu_load in GET /features.
type warmWindow struct {
	Count    int      `json:"count"`
	Avg      float64  `json:"avg"`
	Increase *float64 `json:"increase"`
}

func hourWindow(base, tenant, host string) (warmWindow, error) {
	series, err := features(base, tenant, host)
	if err != nil {
		return warmWindow{}, err
	}
	raw, ok := series["cpu_load"]
	if !ok {
		return warmWindow{}, fmt.Errorf("no cpu_load among %v", series)
	}
	var m struct {
		Windows map[string]warmWindow `json:"windows"`
	}
	if err := json.Unmarshal([]byte(raw), &m); err != nil {
		return warmWindow{}, err
	}
	return m.Windows["1h"], nil
}

// storeHistory writes, with the store's writer, a cpu_load row a minute
// for the 57 minutes before now: value i at i minutes ago for tenant/host.
func storeHistory(t *testing.T, db *store.Store, tenant, host string, now time.Time, value func(i int) float64) {
	t.Helper()
	var rows []store.MetricRow
	// Oldest first, as they arrived: a warm start folds them in in that
	// order, and a sample older than the newest by more than the lateness
	// bound is refused, as live refused it.
	for i := 57; i >= 1; i-- {
		rows = append(rows, store.MetricRow{Ts: now.Add(-time.Duration(i) * time.Minute), Tenant: tenant, SourceID: host,
			Metric: "cpu_load", Value: value(i), Unit: "percent", Tags: []byte("{}"), IngestedAt: now})
	}
	if _, err := db.WriteMetrics(context.Background(), rows); err != nil {
		t.Fatal(err)
	}
}

// startWarmReplica runs a replica of every stage on bed with warm start
// on or off, until the test ends.
// It returns the replica's metrics and the address of its API.
func startWarmReplica(t *testing.T, bed *testBed, warm bool, load func() (*rules.RuleSet, error), reload chan os.Signal) (*prometheus.Registry, string) {
	t.Helper()
	reg := prometheus.NewRegistry()
	ready := make(chan struct{})
	opts := bed.options()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	opts.Listener = ln
	opts.Kafka.ClientID = fmt.Sprintf("warm-%v", warm)
	opts.Flush, opts.WarmStart, opts.LoadRules, opts.Reload = 200*time.Millisecond, warm, load, reload
	opts.Registry, opts.OnReady = reg, func() { close(ready) }
	r, err := New(opts)
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-ran; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	waitReady(t, ready, ran)
	return reg, "http://" + ln.Addr().String()
}

func sendSample(t *testing.T, brokers []string, tenant, host string, at time.Time, v float64) {
	t.Helper()
	produce(t, brokers, &kgo.Record{Topic: tables.RawTopic, Key: []byte(tenant + "/" + host), Value: []byte(fmt.Sprintf(
		`{"tenant_id":%q,"host":%q,"metric":"cpu_load","value":%v,"unit":"percent","ts_event":%q}`, tenant, host, v, at.Format(time.RFC3339Nano)))})
}

func counterOf(reg *prometheus.Registry, name, label, value string) float64 {
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.Metric {
			for _, l := range m.Label {
				if l.GetName() == label && l.GetValue() == value {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// With warm_start on, a source new to the replica (its table empty) whose
// last hour is in PostgreSQL has avg(cpu_load, 1h) right from its first
// sample: the stored hour and the sample, its own tenant's only (another
// tenant's host of the same name has its own history). A reload that
// changes cpu_load's configuration (its kind, so the layout of its
// windows) resets the series, and warm start fills it again. With
// warm_start off the window holds the sample alone.
func TestWarmStartFillsANewSourcesWindowsFromPostgreSQL(t *testing.T) {
	bed := newTestBed(t)
	db, err := store.Open(context.Background(), store.Options{URL: bed.dbURL})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	for _, host := range []string{"cold", "h1"} {
		storeHistory(t, db, "acme", host, now, func(i int) float64 { return float64(i) })
		storeHistory(t, db, "globex", host, now, func(int) float64 { return 1000 })
	}
	want := 100.0
	for i := 1; i <= 57; i++ {
		want += float64(i)
	}
	want /= 58

	var ruleText atomic.Value
	ruleText.Store(warmRules)
	load := func() (*rules.RuleSet, error) {
		return rules.Parse("warm.yml", []byte(ruleText.Load().(string)), rules.Options{})
	}
	t.Run("off", func(t *testing.T) {
		_, base := startWarmReplica(t, bed, false, load, nil)
		sendSample(t, bed.brokers, "acme", "cold", now, 100)
		eventually(t, time.Minute, "the sample's features", func() error {
			w, err := hourWindow(base, "acme", "cold")
			if err == nil && (w.Count != 1 || w.Avg != 100) {
				t.Fatalf("without warm start the 1h window holds %+v, want the sample alone", w)
			}
			return err
		})
	})

	reload := make(chan os.Signal, 1)
	reg, base := startWarmReplica(t, bed, true, load, reload)
	sendSample(t, bed.brokers, "acme", "h1", now, 100)
	check := func(what string, counter bool) {
		t.Helper()
		eventually(t, time.Minute, what, func() error {
			w, err := hourWindow(base, "acme", "h1")
			if err != nil {
				return err
			}
			if w.Count != 58 || math.Abs(w.Avg-want) > 1e-9 || (w.Increase != nil) != counter {
				return fmt.Errorf("the 1h window holds %+v, want 58 samples averaging %v (counter %v)", w, want, counter)
			}
			return nil
		})
	}
	check("the warmed window", false)
	if n := counterOf(reg, "eventops_warm_starts_total", "outcome", "warmed"); n != 1 {
		t.Fatalf("%v warm starts warmed", n)
	}

	// The reset series is warmed with what is stored up to its source's
	// clock: the hour and the sample, once the sink wrote it.
	eventually(t, time.Minute, "the sample in PostgreSQL", func() error {
		if n := metricRows(t, bed.dbURL); n != 4*57+2 {
			return fmt.Errorf("%d rows", n)
		}
		return nil
	})
	ruleText.Store(strings.Replace(warmRules, "kind: gauge", "kind: counter", 1))
	reload <- syscall.SIGHUP
	check("the window reset and warmed after the reload", true)
	if n := counterOf(reg, "eventops_warm_starts_total", "outcome", "warmed"); n != 2 {
		t.Fatalf("%v warm starts warmed", n)
	}
}

// A features stage whose PostgreSQL cannot be reached still starts, and
// its sources start cold: each warm-up fails, is counted, and the samples
// apply.
func TestWarmStartWithPostgreSQLDownStartsCold(t *testing.T) {
	bed := newTestBed(t)
	// A Unix socket in a directory that does not exist: no server can be
	// there, and no port is taken from anything else.
	down := "postgres://eventops@/eventops?host=" + url.QueryEscape(filepath.Join(t.TempDir(), "absent")) + "&connect_timeout=1"
	reg := prometheus.NewRegistry()
	ready := make(chan struct{})
	opts := bed.options()
	opts.Stages = []string{StageIngest, StageFeatures}
	opts.DatabaseURL, opts.WarmStart, opts.WarmTimeout = down, true, 5*time.Second
	opts.Listener, opts.Registry, opts.OnReady = nil, reg, func() { close(ready) }
	r, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- r.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-ran; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	waitReady(t, ready, ran)
	sendSample(t, bed.brokers, "acme", "h1", time.Now(), 100)
	eventually(t, time.Minute, "the sample applied cold", func() error {
		failed := counterOf(reg, "eventops_warm_starts_total", "outcome", "error")
		if applied := counterValueOf(reg, "eventops_feature_samples_total"); failed != 1 || applied != 1 {
			return fmt.Errorf("%v warm starts failed, %v samples applied", failed, applied)
		}
		return nil
	})
}

func counterValueOf(reg *prometheus.Registry, name string) float64 {
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() == name {
			var sum float64
			for _, m := range mf.Metric {
				sum += m.GetCounter().GetValue()
			}
			return sum
		}
	}
	return 0
}
