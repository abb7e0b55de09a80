package processors

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the counters every stage shares, told apart by a stage label.
// Create one per process and hand it to each stage.
type Metrics struct {
	RecordsIn *prometheus.CounterVec
	EventsIn  *prometheus.CounterVec
	EventsOut *prometheus.CounterVec
	Discarded *prometheus.CounterVec
	// Dropped counts what the ingest stage leaves out of OTLP records by
	// design (exemplars, histogram buckets, ...): not events, not errors.
	Dropped *prometheus.CounterVec
	Pending *prometheus.GaugeVec
	Errors  *prometheus.CounterVec
}

// NewMetrics registers the stage metrics with reg (nil: not registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		RecordsIn: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eventops_records_in_total", Help: "Records read from the broker, by stage.",
		}, []string{"stage"}),
		EventsIn: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eventops_events_in_total", Help: "Events (samples or alerts) read, by stage.",
		}, []string{"stage"}),
		EventsOut: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eventops_events_out_total", Help: "Events passed on, by stage.",
		}, []string{"stage"}),
		Discarded: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eventops_events_discarded_total", Help: "Events not passed on (sent to the DLQ or a side output), by stage and reason.",
		}, []string{"stage", "reason"}),
		Dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eventops_events_dropped_total", Help: "Parts of records left out by design (exemplars, histogram buckets, points without a value), by stage and what.",
		}, []string{"stage", "what"}),
		Pending: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "eventops_pending_commits", Help: "Input records whose commit waits for their work to be durable, by stage.",
		}, []string{"stage"}),
		Errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eventops_stage_errors_total", Help: "Errors a stage retried or reported, by stage and kind.",
		}, []string{"stage", "kind"}),
	}
	if reg != nil {
		reg.MustRegister(m.RecordsIn, m.EventsIn, m.EventsOut, m.Discarded, m.Dropped, m.Pending, m.Errors)
	}
	return m
}

// stageCounters are a stage's per-record counters, resolved once: looking
// a label up per event costs more than counting it.
type stageCounters struct {
	recordsIn, eventsIn, eventsOut prometheus.Counter
}

func (m *Metrics) stage(name string) stageCounters {
	return stageCounters{
		recordsIn: m.RecordsIn.WithLabelValues(name),
		eventsIn:  m.EventsIn.WithLabelValues(name),
		eventsOut: m.EventsOut.WithLabelValues(name),
	}
}
