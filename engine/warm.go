package engine

import (
	"slices"
	"time"

	"github.com/eventops/eventops/features"
	"github.com/eventops/eventops/tables"
)

// WarmSpan is how far back a warm start reads for a metric: the longest
// window of its feature configuration, the most history any of its
// features looks at.
func (r *Rules) WarmSpan(metric string) time.Duration {
	return slices.Max(r.FeatureConfig(metric).Windows)
}

// Warm folds the samples of a signal read from the history (stored before
// the source's first live sample) into the source's windows: features
// only. No rule evaluates, no transition is emitted and the source's clock
// does not move, so that history nobody watched live announces nothing;
// the live signals that follow apply as usual, and see the windows full.
//
// keep says which samples to fold in (nil: all). A sample of a series the
// source does not have starts one when admit is set, under the same bounds
// as a live sample (MaxSeries, Hooks.SourceFull, Hooks.ReserveSeries), and
// is left out otherwise. Samples the windows refuse (too late, invalid,
// resent) are left out silently: they are history, not input. It reports
// how many it folded in.
func (s *Source) Warm(r *Rules, sig *tables.Signal, admit bool, keep func(*tables.Sample) bool) int {
	st := s.State
	n := 0
	for i := range sig.Samples {
		sm := &sig.Samples[i]
		if keep != nil && !keep(sm) {
			continue
		}
		ms := st.Series(sm.Metric, sm.Tags)
		if ms == nil && admit {
			ms, _, _ = s.addSeries(r, sm)
		}
		if ms == nil {
			continue
		}
		ts := sm.TsMicro / 1000
		if out, err := ms.Series.Add(ts, sm.Value); err != nil || out != features.Applied {
			continue
		}
		if ms.Unit == "" {
			ms.Unit = sm.Unit
		}
		// A warmed series was last seen when its newest stored sample
		// happened: it goes stale on the source's clock as a live one.
		ms.SeenMilli = max(ms.SeenMilli, ts)
		n++
	}
	return n
}

// SignalClock is the source time a signal received at receive (ms; 0:
// unknown) applies at: the newest of the source's event time and its
// samples' event times, each capped at receive, leaving out those beyond
// the future bound (see Apply).
func (s *Source) SignalClock(r *Rules, sig *tables.Signal, receive int64) int64 {
	clock := s.State.EventMilli
	for i := range sig.Samples {
		sm := &sig.Samples[i]
		switch _, ok := s.futureBound(r, sm, receive); {
		case receive <= 0:
			clock = max(clock, sm.TsMicro/1000)
		case ok:
			clock = max(clock, min(sm.TsMicro/1000, receive))
		}
	}
	return clock
}

// StartClock starts the clock of a source that never applied a sample at
// source time at, as if its event time had reached it at wall time
// nowMilli. After a warm start, at the first live signal's clock
// (SignalClock), that signal then evaluates the rules once, after its
// samples apply, rather than first catching the rules up on the history
// alone (which would announce what the history says as if it happened
// live). It does nothing to a source that applied samples.
func (s *Source) StartClock(at, nowMilli int64) {
	if st := s.State; st.ArrivalMilli == 0 && st.EventMilli < at {
		st.EventMilli, st.ArrivalMilli = at, nowMilli
	}
}

// Reconfigure brings the source's series to the feature configurations of
// r, as decoding its stored state under r does (tables.DecodeSourceState):
// a series whose metric's configuration changed is decoded again under the
// new one, and one whose windows do not decode under it (another layout:
// windows, half-lives, kind) starts afresh; reset names their metrics,
// each once. A reload thus reaches the series of sources in memory as it
// reaches those in the table.
func (s *Source) Reconfigure(r *Rules) (reset []string) {
	for i := range s.State.Metrics {
		m := &s.State.Metrics[i]
		cfg := r.FeatureConfig(m.Name)
		if sameConfig(m.Series.Config(), cfg) {
			continue
		}
		ser, rest, err := features.DecodeSeries(cfg, m.Series.AppendBinary(nil))
		if err != nil || len(rest) != 0 {
			ser = features.NewSeries(cfg)
			if !slices.Contains(reset, m.Name) {
				reset = append(reset, m.Name)
			}
		}
		m.Series = ser
		s.Feats.Set(m.Name, m.Tags.Labels(), ser)
	}
	return reset
}

func sameConfig(a, b features.Config) bool {
	return a.Lateness == b.Lateness && a.Counter == b.Counter && slices.Equal(a.Windows, b.Windows) && slices.Equal(a.HalfLives, b.HalfLives)
}
