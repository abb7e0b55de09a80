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
//	    kind: gauge                 # gauge (default) | counter
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
// not change and Advance drops the others.
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
// without new data; RuleSet.Advance runs a whole source (what an actor and the
// test runner call). Advance allocates nothing unless a transition is emitted:
// features shared by several rules are read once through a memo on the stack
// (BenchmarkSourcePath measures a sample's Add and Advance). States encode to
// a versioned, canonical binary form that holds only non-inactive alerts
// (about 35 bytes per firing alert); DecodeStates rejects anything else with
// ErrCorruptStates.
//
// # Rule tests
//
// RunTestFile runs a promtool-style test file (see testFile in ruletest.go
// and testdata/ruletest): input series in expanding notation are fed through
// features.Series and Advance, with timers, and the pending/firing alerts at
// each eval_time are compared exactly with the expected ones.
package rules
