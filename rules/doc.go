// Package rules is the pure alerting core of EventOps: the rule file format
// and its validation, the compilation and evaluation of rule expressions over
// the features of one source (tenant/host), the alert state machine, annotation
// templates, the binary encoding of per-source alert states, the alert
// transition published to ops.alert.v1, and a runner for rule unit tests.
//
// It imports only the standard library, features, expr-lang/expr and yaml.v3.
// It does no I/O besides reading the files it is asked to load, keeps no
// package-level mutable state and never reads the clock: every time is a
// parameter in unix milliseconds of event time, so a replay decides exactly
// what the first run decided.
//
// # Rule files
//
//	metrics:                        # the catalog rules may read (also the feature configs)
//	  - name: cpu_load
//	    kind: gauge                 # gauge | counter (default: counter for names ending _total, _count, _sum, _bucket)
//	    unit: percent
//	    lateness: 30s               # optional, at most the smallest window
//	groups:
//	  - name: host                  # unique across the loaded files
//	    tenants: [acme]             # optional; absent = every tenant
//	    rules:
//	      - alert: HighCPU          # unique in its group
//	        expr: avg("cpu_load", "1m") > 90
//	        clear: avg("cpu_load", "1m") < 85   # optional hysteresis
//	        for: 2m
//	        keep_firing_for: 0s
//	        labels: {severity: critical, team: infra}
//	        mode: live              # live (default) | shadow
//	        annotations:
//	          summary: 'CPU on {{ $labels.host }} is {{ $value }}% ({{ $meta.owner }})'
//
// Expressions (expr-lang syntax) combine, with && || ! and/or/not, arithmetic,
// comparisons and ?:, these functions of the source's features:
//
//	count sum avg min max stddev first last rate delta zscore p50 p95 p99 (metric, window)
//	increase counter_rate (metric, window)   counters only
//	last(metric)                             the newest value
//	ewma ewmvar (metric, half-life)
//	seconds_since_last(metric), seconds_since_last()   age of the newest sample (any metric)
//	abs(number)
//
// Metric, window and half-life arguments are string literals, so an unknown
// metric, a window or half-life the feature engine does not compute
// (Options.Features), or counter_rate/increase on a gauge is a load error.
// seconds_since_last must be compared directly with a constant so that the
// time it flips can be computed (NextDeadline). Variables, member access,
// arrays, maps, closures, builtins and strings outside arguments are refused;
// with a node budget (Options.MaxExprNodes) this bounds evaluation cost.
//
// A metric argument may carry a selector, disk_used_pct{mount="/"}: the
// rule then reads only the series with those tags (ParseSeries; = matchers
// only). A rule is evaluated once per series of what it reads, each with
// its own state (State.Series) and its tags among the alert's labels and
// in its episode ID; features of several metrics join on equal tags, and a
// side without a series of those tags has no data (the condition is
// unknown). The state of a series the source no longer has ends with reason
// series_gone.
//
// Labels alertname, tenant and host are reserved; severity must be critical,
// warning or info and defaults to warning. Annotation templates are Go
// text/template with $labels, $value, $meta (owner, region, service, tags)
// and $features, and the functions humanize, humanizeDuration,
// humanizePercentage, toUpper, toLower and trimSpace; they are parsed and
// trial-rendered at load, and a run-time failure renders
// "<error expanding template: ...>".
//
// Loading reports every problem of every file at once, as Errors of
// FILE:LINE: message, and returns nothing unless all files are valid. A
// RuleSet is immutable and safe for concurrent use. A rule's ID hashes its
// group, alert name, expr, clear (whitespace-normalised), for,
// keep_firing_for and labels: a reload keeps the state of rules whose ID did
// not change and ends the alerts of the others (see Retired rules).
//
// # Evaluation and lifecycle
//
// Rule.Eval reads each feature of a rule once and evaluates expr and clear;
// a condition that reads a feature without data is Unknown. The alert value
// is the left-hand side of the top comparison (the side reading features;
// through && the first operand that has one, through || the first true
// operand's), else the first feature, else 0. Compiled expressions run on
// the package's own evaluator (exprcode.go), which mirrors expr's semantics
// for the int, float64 and bool values of the rule language without
// allocating; expr's VM stays the reference (FuzzCodeMatchesVM) and decides
// whenever the evaluator does not, such as a run-time error.
//
// Step is the state machine (see its doc): inactive -> pending -> firing ->
// resolved -> inactive, with for, keep_firing_for, clear hysteresis and
// optional resend reminders. Unknown never resolves a firing alert and never
// fires a pending one. Episode IDs hash tenant, host, rule ID and the
// pending-since time. NextDeadline says when a state must be re-evaluated
// without new data. RuleSet.Advance evaluates a whole source once, at a
// given time; a source's Lifecycle (its states and the source time of their
// last evaluation) is driven by RuleSet.AdvanceApplied (or AdvanceAt) on
// samples and RuleSet.AdvanceUntil on timers, which is what an actor and
// the test runner call. AdvanceApplied evaluates a rule only for the series
// the samples were applied to (and the tag sets they join), so the work of
// a sample does not grow with the number of series of its metric
// (BenchmarkAdvancePerSeriesCount); the other series did not change, and
// their deadlines are timers. A sample's path (AdvanceUntil, Add,
// AdvanceAt) allocates nothing unless a transition is emitted: features
// shared by several rules are read once through a memo on the stack, and
// the next deadline is kept in the Lifecycle (BenchmarkSourcePath measures
// it).
//
// # Deterministic timers
//
// Every evaluation happens at a time the state and the input decide, never
// at the time a timer happened to run: on a sample, at the source's newest
// event time (or the last evaluation time, if later: time never goes back);
// without samples, at each deadline in turn (for elapsing, keep_firing_for
// ending, a reminder falling due, a seconds_since_last comparison
// flipping), computed from the states and the features of the last
// evaluation. AdvanceUntil(until) evaluates the deadlines up to until and
// stamps each transition with its deadline, so an episode a timer starts
// has the deadline as its pending-since time and episode ID: the owner of a
// source at 10:00:03 and the next owner after a crash at 10:07 emit the same
// transitions from the same state (TestTimersAreDeterministic checks this
// for random rules, streams, timer times and crashes). Before applying a
// sample at ts an actor calls AdvanceUntil(ts), so the deadlines up to ts
// are evaluated on the features without the sample whether a timer got
// there first or not. What stays wall-clock dependent: a sample that
// arrives after a timer evaluated a deadline later than the sample's event
// time (it came late, or the source's clock ran ahead) is evaluated after
// that deadline, where a replay may evaluate it before; and a Lifecycle
// whose evaluation time is not known is first evaluated at the caller's
// time (for a source never evaluated, the first sample's catch-up: its
// event time; for states decoded from the version 1 encoding, possibly a
// timer's time, once).
//
// # Replays and resends
//
// Given the same Lifecycle and features, the same input gives the same
// transitions, episode IDs included, so a replay after a crash re-emits
// exactly what the crashed owner emitted and the downstream stores (keyed
// by episode and state) absorb it. A replayed record is skipped by its
// offset or origin (tables); a resent sample (an event time its series
// applied already) is a features.Duplicate that changes nothing, and an
// actor does not evaluate on it.
//
// # Retired rules
//
// A state whose rule the rule set no longer has (a reload removed it, or
// changed it: a changed rule has a new ID), or whose group no longer applies
// to the tenant, ends at the source's next evaluation (AdvanceUntil's is at
// the last evaluation time, so a silent source ends it then): a firing alert
// resolves, a pending one goes inactive, with Transition.Reason
// rule_removed, rule_changed (the group has a rule of that name) or
// tenant_excluded. The transition is the rule's (name, labels, annotations
// rendered with the state's value): a set put in force as
// RuleSet.Replacing(previous) keeps the rules the previous sets had and it
// has not, by ID (at most 512, the most recently retired first), so a source
// evaluated several reloads later still finds them. When no set has the
// rule (a restart with another file), the transition is built from the
// state's Identity (group, name, labels: an alert ends with the labels it
// fired with), without annotations; a state from the version 1 encoding has
// no identity and ends with the tenant and host labels only.
//
// # Explanations
//
// Every transition an Advance emits carries an Explanation, built from the
// evaluation that decided it (the feature values it read, and, through
// SeriesDetails, the windows' sample counts and time ranges and the newest
// samples), only when a transition is emitted: an evaluation that changes
// nothing builds none. It names the comparison that decided (of clear for
// an alert resolved by it) and for an ended alert what ended it: clear,
// condition, no_data (series_gone) or the reload's reason. Its JSON is at
// most MaxExplanationBytes: samples are left out first, then features,
// then the end of the condition texts, and it says so. The samples listed
// are the newest raw samples of the series' state, so a source read back
// from its table after an eviction, a restart or a rebalance explains
// itself as it would have in memory. Their origins (the raw record each
// came in) are kept in memory only, in a ring of the newest 8 samples noted
// per source (NoteSample), so their cost does not grow with the series: a
// sample noted before the source left memory is listed without its origin.
//
// # Encoding
//
// A Lifecycle encodes to a versioned, canonical binary form (see
// Lifecycle.AppendBinary): the evaluation time and only the non-inactive
// states, each with its rule's identity: about 9 bytes, plus about 34 per
// firing alert and its identity (32 bytes for HighCPU of group host with
// severity critical). DecodeLifecycle reads it and the version 1 form,
// and rejects anything else with ErrCorruptStates.
//
// # Rule tests
//
// RunTestFile runs a promtool-style test file (see testFile in ruletest.go
// and testdata/ruletest): input series in expanding notation are fed through
// features.Series and a Lifecycle as an actor feeds them, deadlines stepped
// up to each eval_time, and the pending/firing alerts at each eval_time are
// compared exactly with the expected ones.
package rules
