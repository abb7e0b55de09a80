package actors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eventops/eventops/features"
	"github.com/eventops/eventops/rules"
	"github.com/eventops/eventops/store"
	"github.com/eventops/eventops/tables"
	"github.com/eventops/eventops/tables/kgotables"
)

// SyncProducer writes records and waits for them; *kgo.Client implements it.
type SyncProducer interface {
	ProduceSync(ctx context.Context, rs ...*kgo.Record) kgo.ProduceResults
}

// RowStore is the part of the store the sink writes to.
type RowStore interface {
	WriteMetrics(ctx context.Context, rows []store.MetricRow) (store.WriteResult, error)
	WriteAlerts(ctx context.Context, rows []store.AlertRow) (store.WriteResult, error)
}

// SinkOptions configure the sink's writers.
type SinkOptions struct {
	Store    RowStore
	Producer SyncProducer
	// Metrics and Alerts configure the two writers (Name is set here).
	Metrics WriterOptions
	Alerts  WriterOptions
	// DrainTimeout bounds the writers' drain once Run's context ends,
	// unless Metrics or Alerts set their own (default 30 s).
	DrainTimeout time.Duration
	Registerer   prometheus.Registerer
	Logger       *slog.Logger
}

// Sink turns signals and alert transitions into rows and hands them to one
// batch writer per table. It implements processors.SinkTarget; Run runs
// the writers.
type Sink struct {
	metrics *Writer[store.MetricRow]
	alerts  *Writer[store.AlertRow]
}

// NewSink spawns the writers; they write while Run runs.
func NewSink(system *actor.ActorSystem, opts SinkOptions) *Sink {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	mo, ao := opts.Metrics, opts.Alerts
	mo.Name, ao.Name = "metrics", "alerts"
	mo.Registerer, ao.Registerer = opts.Registerer, opts.Registerer
	mo.Logger, ao.Logger = opts.Logger, opts.Logger
	if ao.BatchRows <= 0 {
		ao.BatchRows = 1000
	}
	if mo.DrainTimeout <= 0 {
		mo.DrainTimeout = opts.DrainTimeout
	}
	if ao.DrainTimeout <= 0 {
		ao.DrainTimeout = opts.DrainTimeout
	}
	return &Sink{
		metrics: NewWriter(system, opts.Store.WriteMetrics, rejectTo(opts.Producer, metricRejection), mo),
		alerts:  NewWriter(system, opts.Store.WriteAlerts, rejectTo(opts.Producer, alertRejection), ao),
	}
}

// Signal implements processors.SinkTarget.
func (s *Sink) Signal(ctx context.Context, sig *tables.Signal, done func()) error {
	return s.metrics.Append(ctx, MetricRows(sig), done)
}

// Alert implements processors.SinkTarget.
func (s *Sink) Alert(ctx context.Context, tr *rules.Transition, raw []byte, done func()) error {
	return s.alerts.Append(ctx, []store.AlertRow{AlertRow(tr, raw)}, done)
}

// Healthy reports whether both writers' last writes succeeded.
func (s *Sink) Healthy() bool { return s.metrics.Healthy() && s.alerts.Healthy() }

// PendingRows returns the rows waiting in memory.
func (s *Sink) PendingRows() int { return s.metrics.Pending() + s.alerts.Pending() }

// PeakPendingRows returns the most rows each writer ever held at once.
func (s *Sink) PeakPendingRows() (metrics, alerts int) {
	return s.metrics.PeakPending(), s.alerts.PeakPending()
}

// Run runs both writers until ctx ends, then drains them (each within its
// DrainTimeout) and returns once both have stopped.
func (s *Sink) Run(ctx context.Context) error {
	alerts := make(chan error, 1)
	go func() { alerts <- s.alerts.Run(ctx) }()
	err := s.metrics.Run(ctx)
	return errors.Join(err, <-alerts)
}

// MetricRows converts a signal into rows of metrics.
func MetricRows(sig *tables.Signal) []store.MetricRow {
	var meta []byte
	if sig.Meta != nil {
		meta, _ = json.Marshal(sig.Meta)
	}
	ingested := time.UnixMicro(sig.IngestMicro)
	rows := make([]store.MetricRow, len(sig.Samples))
	for i, sm := range sig.Samples {
		rows[i] = store.MetricRow{
			Ts: time.UnixMicro(sm.TsMicro), Tenant: sig.Tenant, SourceID: sig.Host, Metric: sm.Metric,
			Series: tables.SeriesID(sm.Metric, sm.Tags), Value: sm.Value, Unit: sm.Unit, Tags: sm.Tags.AppendJSON(nil), Meta: meta, IngestedAt: ingested,
		}
	}
	return rows
}

// AlertRow converts a transition into a row of alerts. The original
// columns keep their meaning: ts is when the transition was decided, rule
// the alert name, message the summary (or description) annotation, metric
// the first metric the rule read.
func AlertRow(tr *rules.Transition, raw []byte) store.AlertRow {
	labels, _ := json.Marshal(tr.Labels)
	annotations, _ := json.Marshal(tr.Annotations)
	feats, _ := json.Marshal(tr.Features)
	msg := tr.Annotations["summary"]
	if msg == "" {
		msg = tr.Annotations["description"]
	}
	row := store.AlertRow{
		Ts: tr.At.Time(), Tenant: tr.Tenant, SourceID: tr.Host, Metric: firstMetric(tr.Features),
		Severity: tr.Severity, Rule: tr.AlertName, Value: finite(float64(tr.Value)), Message: msg, Tags: labels,
		EpisodeID: tr.EpisodeID, State: tr.State, AlertName: tr.AlertName, RuleID: tr.RuleID.String(),
		Labels: labels, Annotations: annotations, Features: feats, Payload: raw, Shadow: tr.Shadow,
	}
	if st := tr.StartsAt.Time(); !st.IsZero() {
		row.StartsAt = &st
	}
	if tr.EndsAt != nil {
		et := tr.EndsAt.Time()
		row.EndsAt = &et
	}
	return row
}

func finite(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

// firstMetric picks the metric of the first feature name, e.g. cpu_load in
// avg(cpu_load,5m).
func firstMetric(feats map[string]features.Float) string {
	best := ""
	for name := range feats {
		if best == "" || name < best {
			best = name
		}
	}
	if i := strings.IndexByte(best, '('); i >= 0 {
		best = best[i+1:]
		if j := strings.IndexAny(best, ",){"); j >= 0 {
			best = best[:j]
		}
	}
	return strings.Trim(best, `"`)
}

func metricRejection(r store.MetricRow, err error) tables.Rejection {
	v, _ := json.Marshal(struct {
		Ts       time.Time       `json:"ts_event"`
		Tenant   string          `json:"tenant_id"`
		Host     string          `json:"host"`
		Metric   string          `json:"metric"`
		Value    float64         `json:"value"`
		Unit     string          `json:"unit"`
		Tags     json.RawMessage `json:"tags,omitempty"`
		Database string          `json:"-"`
	}{r.Ts, r.Tenant, r.SourceID, r.Metric, r.Value, r.Unit, r.Tags, ""})
	return tables.Reject(tables.StageSink, rejectionReason(err), err.Error(), tables.SourceInput(tables.SignalsTopic, r.Tenant, r.SourceID), v)
}

func alertRejection(r store.AlertRow, err error) tables.Rejection {
	return tables.Reject(tables.StageSink, rejectionReason(err), err.Error(), tables.SourceInput(tables.AlertsTopic, r.Tenant, r.SourceID), r.Payload)
}

// DLQ reasons of rows the store refused.
const (
	ReasonRefusedByDatabase  = "refused_by_database"
	ReasonOlderThanRetention = "older_than_retention"
)

func rejectionReason(err error) string {
	if errors.Is(err, store.ErrExpired) {
		return ReasonOlderThanRetention
	}
	return ReasonRefusedByDatabase
}

func rejectTo[R any](p SyncProducer, rejection func(R, error) tables.Rejection) RejectFunc[R] {
	return func(ctx context.Context, rows []R, errs []error) error {
		recs := make([]*kgo.Record, len(rows))
		for i := range rows {
			recs[i] = kgotables.DLQRecord(rejection(rows[i], errs[i]))
		}
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := p.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			return fmt.Errorf("send refused rows to the DLQ: %w", err)
		}
		return nil
	}
}
