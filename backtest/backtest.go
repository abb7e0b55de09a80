package backtest

import (
	"context"
	"errors"
	"time"

	"github.com/eventops/eventops/engine"
	"github.com/eventops/eventops/rules"
	"github.com/eventops/eventops/store"
	"github.com/eventops/eventops/tables"
)

// History is where a backtest reads its samples: *store.Store in the
// product, a slice in tests. ScanSignals calls fn with the signals of one
// source after another (tenant, host order), each source's in the order
// they arrived, one signal per record and event time, and stops at fn's
// first error.
type History interface {
	ScanSignals(ctx context.Context, q store.SignalScan, fn func(*tables.Signal) error) error
}

// Options are what a backtest runs with: the rules, and the engine
// settings of the live replicas it stands for (zero values take the live
// defaults).
type Options struct {
	Rules *rules.RuleSet
	// MaxSeries bounds the series (metric and tags) a source keeps
	// (max_series_per_source, default 500); SeriesStaleAfter is how long a
	// series may go without a sample, by its source's event time, before
	// it leaves the source (series_stale_after, default 1h). A metric's
	// lateness comes from the rule file. The live max_future has no
	// counterpart: stored samples carry no receive time.
	MaxSeries        int
	SeriesStaleAfter time.Duration
	// LeadIn is how much history before the range's start (q.From) is
	// applied first, so that the windows hold at From what they held live:
	// its samples go through the engine as any other and the states they
	// leave carry on, but the transitions decided before From are not
	// emitted. Zero takes, over the rules, the longest of the window (or
	// half-life) a rule reads plus its for and keep_firing_for (avg("cpu",
	// "1h") for 10m: 70 minutes), so that every window is full at From and
	// an alert that held throughout the lead-in is firing there, as live
	// had it, not pending and paging in the range; negative: none, each
	// source starts empty at From. Without a From there is nothing before
	// the range. A transition decided in the lead-in still saw windows
	// filling, so an alert that started there can have another start (and
	// episode ID) than live had: a lead-in of twice the longest window
	// plus the longest for leaves that only to alerts older than it.
	LeadIn time.Duration
	// Open, when given, is told once per source, as its replay reaches
	// q.From (before the first signal at or after it, or at the source's
	// end), of each episode the lead-in leaves open there: a pending or
	// firing state, described as the transition that would describe it
	// (state, ActiveAt, StartsAt, episode ID, labels, value; At is From).
	// They are not transitions (live emitted them before From) and are not
	// passed to emit; without a From there are none.
	Open func(*rules.Transition) error
}

// LeadInUsed is the lead-in a Run with opts uses (see Options.LeadIn):
// the one given, or the longest window, for and keep_firing_for of a
// rule; never negative.
func (opts Options) LeadInUsed() time.Duration {
	switch {
	case opts.LeadIn < 0 || opts.Rules == nil:
		return 0
	case opts.LeadIn > 0:
		return opts.LeadIn
	}
	var longest time.Duration
	for r := range opts.Rules.Rules() {
		var window time.Duration
		for _, f := range r.Features() {
			window = max(window, f.Window)
		}
		longest = max(longest, window+r.For()+r.KeepFiringFor())
	}
	return longest
}

// Stats count what a Run read and did, the lead-in included (but for
// Transitions, which counts the transitions emitted).
type Stats struct {
	Sources     int64 `json:"sources"`
	Signals     int64 `json:"signals"`
	Samples     int64 `json:"samples"`
	Transitions int64 `json:"transitions"`
	// Open counts the episodes open at From (see Options.Open).
	Open int64 `json:"open,omitempty"`
	// Refused counts the samples the engine refused, by reason (too_late,
	// invalid, series_limit, ...).
	Refused map[string]int64 `json:"refused,omitempty"`
}

// ErrNoRules is returned by Run without a rule set.
var ErrNoRules = errors.New("backtest: no rules")

// Run replays the history q selects through the engine with opts, one
// source at a time, and calls emit with every transition in the order the
// live engine would have emitted it for its source (sources follow one
// another in tenant, host order). It reads from opts' lead-in before
// q.From, and emits only the transitions decided at or after q.From. At
// the end of each source its timers are caught up to q.To (see the package
// doc on where that can differ from live). The episodes open at q.From go
// to opts.Open. It stops at ctx's end or the first error of emit or Open.
func Run(ctx context.Context, h History, q store.SignalScan, opts Options, emit func(*rules.Transition) error) (Stats, error) {
	if opts.Rules == nil {
		return Stats{}, ErrNoRules
	}
	r := &run{rules: engine.NewRules(opts.Rules), set: opts.Rules, emit: emit, open: opts.Open, until: q.To.UnixMilli()}
	if q.To.IsZero() {
		r.until = 0
	}
	if !q.From.IsZero() {
		r.from = q.From.UnixMilli()
		q.From = q.From.Add(-opts.LeadInUsed())
	}
	r.opts = engine.Options{MaxSeries: opts.MaxSeries, SeriesStaleAfter: opts.SeriesStaleAfter, WithoutOrigins: true, Hooks: engine.Hooks{
		Transition: r.transition,
		Stepped:    func(st engine.Step) { r.next, r.due = st.Next, st.Due },
		Refused: func(_ *tables.Signal, _ *tables.Sample, reason, _ string) {
			if r.stats.Refused == nil {
				r.stats.Refused = map[string]int64{}
			}
			r.stats.Refused[reason]++
		},
	}}
	err := h.ScanSignals(ctx, q, func(sig *tables.Signal) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if r.src == nil || sig.Tenant != r.src.Tenant || sig.Host != r.src.Host {
			if err := r.finish(ctx); err != nil {
				return err
			}
			r.src, r.due, r.opened = engine.New(sig.Tenant, sig.Host, &tables.SourceState{Offset: -1}, r.opts), false, r.from == 0
			r.stats.Sources++
		}
		r.stats.Signals++
		r.stats.Samples += int64(len(sig.Samples))
		// The receive time is unknown (0), so no future bound applies;
		// the signal arrives, as far as the source's clock goes, when it
		// happened.
		newest := int64(0)
		for i := range sig.Samples {
			newest = max(newest, sig.Samples[i].TsMicro/1000)
		}
		if newest >= r.from && !r.opened {
			if err := r.reachFrom(ctx); err != nil {
				return err
			}
		}
		if newest > r.src.State.EventMilli {
			// The deadlines Apply would catch up to first (its clock is
			// newest), met here one by one.
			if err := r.catchUp(ctx, newest); err != nil {
				return err
			}
		}
		r.src.Apply(r.rules, sig, 0, newest)
		return r.err
	})
	if err == nil {
		err = r.finish(ctx)
	}
	if err == nil {
		err = ctx.Err()
	}
	return r.stats, err
}

// run is one Run's progress: the source being replayed, its next deadline
// (when due), and the first error emit returned (the engine's step cannot
// stop half-way, so the transitions after it are dropped and Run stops at
// the next signal or deadline).
type run struct {
	rules *engine.Rules
	set   *rules.RuleSet
	opts  engine.Options
	emit  func(*rules.Transition) error
	open  func(*rules.Transition) error
	until int64
	// from is when transitions start to be emitted (0: from the start);
	// opened: the source's open episodes at from were reported.
	from   int64
	opened bool
	src    *engine.Source
	next   int64
	due    bool
	stats  Stats
	err    error
}

func (r *run) transition(tr *rules.Transition) {
	if r.err != nil || int64(tr.At) < r.from {
		return
	}
	r.stats.Transitions++
	r.err = r.emit(tr)
}

// catchUp meets the source's deadlines up to until one at a time, which
// gives the transitions of one engine.Source.CatchUp to until (each deadline
// is evaluated in order either way), so that a long silence with many
// deadlines (reminders of firing alerts) ends at ctx's end or at emit's
// first error rather than after its last deadline.
func (r *run) catchUp(ctx context.Context, until int64) error {
	for r.due && r.next <= until && r.err == nil {
		if err := ctx.Err(); err != nil {
			return err
		}
		r.src.CatchUp(r.rules, r.next)
	}
	return r.err
}

// reachFrom brings the source being replayed to just before from (its
// deadlines before it met) and reports the episodes open there.
func (r *run) reachFrom(ctx context.Context) error {
	if err := r.catchUp(ctx, r.from-1); err != nil {
		return err
	}
	r.opened = true
	src := rules.Source{Tenant: r.src.Tenant, Host: r.src.Host}
	r.src.State.Alerts.Open(r.set, src, r.from, func(tr *rules.Transition) {
		r.stats.Open++
		if r.err == nil && r.open != nil {
			r.err = r.open(tr)
		}
	})
	return r.err
}

// finish ends the source being replayed: its timers catch up to the end of
// the range, as a live source's run on while it is silent.
func (r *run) finish(ctx context.Context) error {
	if r.src != nil && r.err == nil && !r.opened {
		if err := r.reachFrom(ctx); err != nil {
			return err
		}
	}
	if r.src != nil && r.err == nil && r.until > 0 {
		if err := r.catchUp(ctx, r.until); err != nil {
			return err
		}
		r.src.CatchUp(r.rules, r.until)
	}
	r.src = nil
	return r.err
}
