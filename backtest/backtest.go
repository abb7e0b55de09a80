package backtest

import (
	"context"
	"errors"

	"github.com/eventops/eventops/rules"
	"github.com/eventops/eventops/store"
	"github.com/eventops/eventops/tables"
)

// History is where a backtest reads its samples: *store.Store in the
// product, a slice in tests. ScanSignals calls fn with one signal per
// source and event time (every sample of that source stored at that
// time), ordered by tenant, host, then event time, and stops at fn's
// first error.
type History interface {
	ScanSignals(ctx context.Context, q store.SignalScan, fn func(*tables.Signal) error) error
}

// Options are what a backtest runs with: the rules, and the engine
// settings of the live replicas it stands for (zero values take the live
// defaults).
type Options struct {
	Rules *rules.RuleSet
}

// Stats count what a Run read and did.
type Stats struct {
	Sources     int64 `json:"sources"`
	Signals     int64 `json:"signals"`
	Samples     int64 `json:"samples"`
	Transitions int64 `json:"transitions"`
	// Refused counts the samples the engine refused, by reason (too_late,
	// invalid, series_limit, ...).
	Refused map[string]int64 `json:"refused,omitempty"`
}

// ErrNoRules is returned by Run without a rule set.
var ErrNoRules = errors.New("backtest: no rules")

// Run replays the history q selects through the engine with opts, one
// source at a time, and calls emit with every transition in the order the
// live engine would have emitted it for its source (sources follow one
// another in tenant, host order). At the end of each source its timers
// are caught up to q.To (see the package doc on where that can differ from
// live). It stops at ctx's end or emit's first error.
func Run(ctx context.Context, h History, q store.SignalScan, opts Options, emit func(*rules.Transition) error) (Stats, error) {
	if opts.Rules == nil {
		return Stats{}, ErrNoRules
	}
	return Stats{}, errors.New("backtest: not implemented yet")
}
