package replica

import (
	"time"

	"github.com/eventops/eventops/actors"
	"github.com/eventops/eventops/api"
	"github.com/eventops/eventops/processors"
)

// processors declares the ports its stages use and actors implements them;
// these assertions keep the two in step, and the adapters below bridge
// where a return type differs.
var (
	_ processors.SinkTarget     = (*actors.Sink)(nil)
	_ processors.NotifyTarget   = (*actors.Notifier)(nil)
	_ processors.SourceHost     = sourceHost{}
	_ processors.AlertTarget    = alertHub{}
	_ processors.ActivityTarget = (*api.Hub)(nil)
	_ api.FeatureReader         = (*processors.FeatureView)(nil)
	_ api.RuleLister            = ruleLister{}
)

// SourceHost adapts the per-source actors to the features stage.
func SourceHost(s *actors.Sources) processors.SourceHost { return sourceHost{s} }

// sourceHost adapts actors.Sources to processors.SourceHost: Open returns
// the concrete partition.
type sourceHost struct{ s *actors.Sources }

func (h sourceHost) Open(part int32, hooks processors.PartitionHooks) processors.SourcePartition {
	return h.s.Open(part, actors.PartitionHooks(hooks))
}

// alertHub adapts the API's alert hub to the alert feed: the hub names a
// start a Position.
type alertHub struct{ *api.Hub }

func (h alertHub) Init(start []int64, since time.Time) { h.Hub.Init(start, since) }

// ruleLister adapts the rules in force to GET /rules.
type ruleLister struct{ h *actors.RuleHolder }

func (l ruleLister) Rules(tenant string) []api.RuleInfo {
	rs := l.h.Current()
	seq := rs.Rules()
	if tenant != "" {
		seq = rs.RulesFor(tenant)
	}
	var out []api.RuleInfo
	for r := range seq {
		file, line := r.Position()
		labels := map[string]string{}
		for _, lb := range r.Labels() {
			labels[lb.Name] = lb.Value
		}
		out = append(out, api.RuleInfo{
			Name: r.Name(), Group: r.Group(), File: file, Line: line, Expr: r.Expr(), Clear: r.Clear(),
			For: durationText(r.For()), KeepFiringFor: durationText(r.KeepFiringFor()), Severity: r.Severity(),
			Labels: labels, Annotations: r.Annotations(),
			// No tenant is named NUL: a rule applies to it only when its
			// group is not scoped to some tenants.
			AllTenants: r.AppliesTo("\x00"),
			Shadow:     r.Shadow(),
		})
	}
	return out
}

func durationText(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return d.String()
}
