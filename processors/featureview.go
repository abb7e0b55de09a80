package processors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/lovoo/goka"

	"github.com/eventops/eventops/features"
	"github.com/eventops/eventops/rules"
	"github.com/eventops/eventops/tables"
	"github.com/eventops/eventops/tables/gokatables"
)

// ErrNoSource is returned for a source the table does not hold.
var ErrNoSource = errors.New("no such source")

// FeatureView serves any source's features from a goka View of the
// features table, so every replica answers for every source. It shows the
// state as last flushed (at most the flush interval old).
type FeatureView struct {
	view *goka.View
	cfg  func(metric string) features.Config
	now  func() time.Time

	// mu orders reads against the view's end: goka closes a view's
	// partitions when its Run returns, without a lock against Get and
	// Recovered. Run marks the view stopped (waiting out the reads in
	// flight) before it lets goka close it; no read starts after.
	mu      sync.RWMutex
	stopped bool
	// opened are the view's clients, closed when Run returns.
	opened openClients
}

// NewFeatureView opens a view of the features table; cfg gives each
// metric's feature configuration.
func NewFeatureView(k Kafka, cfg func(metric string) features.Config) (*FeatureView, error) {
	fv := &FeatureView{cfg: cfg, now: time.Now}
	v, err := goka.NewView(k.Brokers, gokatables.FeaturesTable, gokatables.BytesCodec{}, k.tracking(&fv.opened).ViewOptions("features")...)
	if err != nil {
		fv.opened.Close()
		return nil, fmt.Errorf("features view: %w", err)
	}
	fv.view = v
	return fv, nil
}

// Run keeps the view up to date until ctx ends. (The view reconnects by
// itself, so it ends only when ctx does, but for an error at its start.)
func (v *FeatureView) Run(ctx context.Context) error {
	defer v.opened.Close()
	inner, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- v.view.Run(inner) }()
	select {
	case <-ctx.Done():
	case err := <-done:
		v.stop()
		return err
	}
	v.stop()
	cancel()
	return <-done
}

// stop marks the view stopped once the reads in flight are done.
func (v *FeatureView) stop() {
	v.mu.Lock()
	v.stopped = true
	v.mu.Unlock()
}

// Recovered reports whether the view has caught up with the table.
func (v *FeatureView) Recovered() bool {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return !v.stopped && v.view.Recovered()
}

// errViewStopped answers reads after the view stopped.
var errViewStopped = errors.New("the view has stopped")

func (v *FeatureView) get(key string) (any, error) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	if v.stopped {
		return nil, errViewStopped
	}
	return v.view.Get(key)
}

// SourceFeatures is the JSON of a source's features (see SourceFeatures).
func (v *FeatureView) SourceFeatures(_ context.Context, tenant, host string) ([]byte, error) {
	raw, err := v.get(tables.SourceKey(tenant, host))
	if err != nil {
		return nil, fmt.Errorf("features view: %w", err)
	}
	b, _ := raw.([]byte)
	if len(b) == 0 {
		return nil, ErrNoSource
	}
	st, _, err := tables.DecodeSourceState(b, v.cfg)
	if err != nil {
		return nil, fmt.Errorf("features view: %s/%s: %w", tenant, host, err)
	}
	return json.Marshal(Snapshot(tenant, host, st, v.now()))
}

// SourceSnapshot is the body of GET /features/{tenant}/{host}. Metrics
// holds every series, by its name: the metric alone for a series without
// tags, cpu_load{core="0"} for one with.
type SourceSnapshot struct {
	Tenant  string                    `json:"tenant"`
	Host    string                    `json:"host"`
	Meta    *tables.SourceMeta        `json:"meta,omitempty"`
	Metrics map[string]MetricSnapshot `json:"metrics"`
	Alerts  []AlertSnapshot           `json:"alerts"`
}

// MetricSnapshot is one series' features.
type MetricSnapshot struct {
	Metric           string                               `json:"metric"`
	Tags             map[string]string                    `json:"tags"`
	Unit             string                               `json:"unit"`
	Last             *LastPoint                           `json:"last"`
	Windows          map[string]features.WindowSnapshot   `json:"windows"`
	EWMA             map[string]features.EWMASnapshot     `json:"ewma"`
	Quantiles        map[string]features.QuantileSnapshot `json:"quantiles"`
	SecondsSinceLast *features.Float                      `json:"seconds_since_last"`
}

// LastPoint is the newest sample.
type LastPoint struct {
	Ts    time.Time      `json:"ts"`
	Value features.Float `json:"value"`
}

// AlertSnapshot is one rule's pending or firing state for a series of the
// source.
type AlertSnapshot struct {
	RuleID string            `json:"rule_id"`
	Tags   map[string]string `json:"tags,omitempty"`
	State  string            `json:"state"`
	Since  time.Time         `json:"since"`
	Value  features.Float    `json:"value"`
}

// Snapshot renders a state at wall time now. "Now" for each series is the
// source's clock (newest event time, moved on by the wall time since it
// arrived), so seconds_since_last says how long the source has been silent.
func Snapshot(tenant, host string, st *tables.SourceState, now time.Time) SourceSnapshot {
	clock := st.EventMilli + max(0, now.UnixMilli()-st.ArrivalMilli)
	out := SourceSnapshot{Tenant: tenant, Host: host, Meta: st.Meta, Metrics: map[string]MetricSnapshot{}, Alerts: []AlertSnapshot{}}
	for _, m := range st.Metrics {
		snap := m.Series.Snapshot(clock)
		ms := MetricSnapshot{Metric: m.Name, Tags: m.Tags.Map(), Unit: m.Unit, Windows: snap.Windows, EWMA: snap.EWMA,
			Quantiles: snap.Quantiles, SecondsSinceLast: snap.SecondsSinceLast}
		if snap.Last != nil {
			ms.Last = &LastPoint{Ts: time.UnixMilli(snap.Last.Ts).UTC(), Value: snap.Last.Value}
		}
		out.Metrics[tables.SeriesName(m.Name, m.Tags)] = ms
	}
	for _, a := range st.Alerts {
		if a.Phase == rules.Inactive {
			continue
		}
		since := a.ActiveSince
		if a.Phase == rules.Firing {
			since = a.FiringSince
		}
		as := AlertSnapshot{RuleID: a.Rule.String(), State: a.Phase.String(),
			Since: time.UnixMilli(since).UTC(), Value: features.Float(a.Value)}
		if len(a.Series) > 0 {
			as.Tags = map[string]string{}
			for _, l := range a.Series {
				as.Tags[l.Name] = l.Value
			}
		}
		out.Alerts = append(out.Alerts, as)
	}
	return out
}
