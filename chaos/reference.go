package chaos

import (
	"fmt"
	"time"

	"github.com/eventops/eventops/features"
	"github.com/eventops/eventops/loadgen"
	"github.com/eventops/eventops/rules"
)

// rowKey identifies a metrics row.
type rowKey struct {
	tenant, host, metric string
	tsMicro              int64
}

// reference is what a single process would make of the whole stream.
type reference struct {
	// rows are the valid events, with their values.
	rows map[rowKey]float64
	// series are the windowed features of every source and metric.
	series map[string]map[string]*features.Series // "tenant/host" → metric
	// transitions are the expected alert rows: episode → states.
	transitions map[string]map[string]bool
	records     []loadgen.Record
}

// buildReference runs the generator's stream through the feature engine and
// the rules as the pipeline would: one signal per record and source, rules
// evaluated after each signal at the source's newest event time.
func buildReference(o loadgen.Options, now time.Time, rs *rules.RuleSet) (*reference, error) {
	ref := &reference{
		rows:        map[rowKey]float64{},
		series:      map[string]map[string]*features.Series{},
		transitions: map[string]map[string]bool{},
	}
	states := map[string]*rules.States{}
	newest := map[string]int64{}
	g := loadgen.NewGenerator(o, now)
	base := rs.Options().Features
	for {
		rec, ok := g.Next()
		if !ok {
			break
		}
		ref.records = append(ref.records, rec)
		if rec.Malformed || len(rec.Events) == 0 {
			continue
		}
		tenant, host := loadgen.TenantName(rec.Events[0].Tenant), loadgen.SourceName(rec.Events[0].Source)
		key := tenant + "/" + host
		if ref.series[key] == nil {
			ref.series[key] = map[string]*features.Series{}
			states[key] = &rules.States{}
		}
		metric := ""
		for _, ev := range rec.Events {
			name := loadgen.MetricName(ev.Metric)
			ts := ev.Ts.UnixMicro()
			ref.rows[rowKey{tenant, host, name, ts}] = ev.Value
			ser := ref.series[key][name]
			if ser == nil {
				cfg, ok := rs.FeatureConfig(name)
				if !ok {
					cfg = base
				}
				ser = features.NewSeries(cfg)
				ref.series[key][name] = ser
			}
			out, err := ser.Add(ts/1000, ev.Value)
			if err != nil || out != features.Applied {
				return nil, fmt.Errorf("reference: %s %s at %s: %v %v (keep the stream within the lateness bound)", key, name, ev.Ts, out, err)
			}
			if ts/1000 > newest[key] {
				newest[key] = ts / 1000
			}
			switch metric {
			case "":
				metric = name
			case name:
			default:
				metric = "*"
			}
		}
		if metric == "*" {
			metric = ""
		}
		src := rules.Source{Tenant: tenant, Host: host}
		rs.Advance(states[key], src, rules.SeriesFeatures(ref.series[key]), newest[key], metric, func(tr *rules.Transition) {
			if ref.transitions[tr.EpisodeID] == nil {
				ref.transitions[tr.EpisodeID] = map[string]bool{}
			}
			ref.transitions[tr.EpisodeID][tr.State] = true
		})
	}
	return ref, nil
}
