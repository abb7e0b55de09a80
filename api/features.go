package api

import (
	"time"

	"github.com/eventops/eventops/features"
	"github.com/eventops/eventops/rules"
	"github.com/eventops/eventops/tables"
)

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

// sourceSnapshot renders a state at wall time now. "Now" for each series is the
// source's clock (newest event time, moved on by the wall time since it
// arrived), so seconds_since_last says how long the source has been silent.
func sourceSnapshot(tenant, host string, st *tables.SourceState, now time.Time) SourceSnapshot {
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
