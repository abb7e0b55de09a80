package main

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/eventops/eventops/backtest"
	"github.com/eventops/eventops/notify"
	"github.com/eventops/eventops/rules"
	"github.com/eventops/eventops/store"
	"github.com/eventops/eventops/tables"
)

const backtestUsage = "eventops rules backtest --rules FILE --from T [--to T] [--tenant T] [--host H] [--compare OLD_FILE] [--receivers FILE] [--lead-in D] [--format table|json] [--database-url URL]"

// backtestArgs are the command line of `rules backtest`.
type backtestArgs struct {
	rules, compare, receivers string
	from, to                  time.Time
	// toAsked is the --to given when it was after now (to is now then).
	toAsked      time.Time
	tenant, host string
	format       string
	databaseURL  string
	// leadIn is backtest.Options.LeadIn: 0 the default, negative none.
	leadIn time.Duration
}

// parseBacktestArgs reads the command line; its errors name the flag.
func parseBacktestArgs(cfg *Config, args []string, now time.Time) (backtestArgs, error) {
	var a backtestArgs
	var from, to, leadIn string
	fs := flag.NewFlagSet("eventops rules backtest", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&a.rules, "rules", "", "rule file to replay the history through (required)")
	fs.StringVar(&from, "from", "", "start of the range: RFC 3339, Unix seconds, now, or a duration before now (-7d, -1h30m) (required)")
	fs.StringVar(&to, "to", "now", "end of the range (excluded; at most now), in the forms of --from")
	fs.StringVar(&a.tenant, "tenant", "", "replay only this tenant's sources")
	fs.StringVar(&a.host, "host", "", "replay only the sources of this host")
	fs.StringVar(&a.compare, "compare", "", "an older rule file: replay the history through it as well and print how --rules differs")
	fs.StringVar(&a.receivers, "receivers", "", "receivers file whose routes and groups count the notifications (default: one group per alert name and tenant, Alertmanager's timings)")
	fs.StringVar(&a.format, "format", "table", "output: table or json")
	fs.StringVar(&leadIn, "lead-in", "", "history replayed before --from so that windows and alert states are as live had them at --from (default: the longest window a rule reads plus its for and keep_firing_for; 0: none)")
	// No default in the flag: the help would print the URL, password and all.
	fs.StringVar(&a.databaseURL, "database-url", "", "PostgreSQL URL of the stored samples (default: DATABASE_URL, EVENTOPS_DATABASE_URL or the configuration file)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(os.Stdout)
			fmt.Printf("usage: %s\n\nReplays the stored samples of a time range through the rule engine, prints every\ntransition, then a summary per rule (and, with --compare, the differences).\nThe engine's settings (max_series_per_source, series_stale_after) are the replicas':\nEVENTOPS_CONFIG's file, EVENTOPS_* variables, or settings before backtest:\n`eventops rules --config eventops.yml --series-stale-after 2h backtest ...`.\n\nflags:\n", backtestUsage)
			fs.PrintDefaults()
			return a, flag.ErrHelp
		}
		return a, usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return a, usageError{fmt.Sprintf("unexpected argument %q (usage: %s)", fs.Arg(0), backtestUsage)}
	}
	var err error
	switch {
	case a.rules == "":
		return a, usageError{"--rules is required"}
	case from == "":
		return a, usageError{"--from is required"}
	case a.format != "table" && a.format != "json":
		return a, usageError{fmt.Sprintf("--format: %q is not table or json", a.format)}
	}
	if a.from, err = parseWhen("--from", from, now); err != nil {
		return a, err
	}
	if a.to, err = parseWhen("--to", to, now); err != nil {
		return a, err
	}
	if leadIn != "" {
		if a.leadIn, err = rules.ParseDuration(leadIn); err != nil {
			return a, usageError{fmt.Sprintf("--lead-in: %q: %v", leadIn, err)}
		}
		if a.leadIn == 0 {
			a.leadIn = -1
		}
	}
	if a.to.After(now) {
		// The end of the range is where every source's timers are caught
		// up to: past now, for would elapse, no-data alerts fire and
		// firing episodes count time that has not happened.
		a.toAsked, a.to = a.to, now
	}
	if !a.from.Before(a.to) {
		return a, usageError{fmt.Sprintf("--from %s is not before --to %s", a.from.Format(time.RFC3339), a.to.Format(time.RFC3339))}
	}
	if a.databaseURL == "" {
		a.databaseURL = cfg.DatabaseURL
	}
	if a.databaseURL == "" {
		return a, usageError{"--database-url (or DATABASE_URL) is required"}
	}
	return a, nil
}

// parseWhen reads a time of the command line: RFC 3339, Unix seconds (as
// the API takes them), now, or a duration before now ("-7d", "now-2h").
func parseWhen(name, v string, now time.Time) (time.Time, error) {
	if v == "now" {
		return now, nil
	}
	if d, ok := strings.CutPrefix(strings.TrimPrefix(v, "now"), "-"); ok {
		dur, err := rules.ParseDuration(d)
		if err != nil {
			return time.Time{}, usageError{fmt.Sprintf("%s: %q: the duration %v", name, v, err)}
		}
		return now.Add(-dur), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t.UTC(), nil
	}
	if f, err := strconv.ParseFloat(v, 64); err == nil && f >= 0 && f < 1e11 {
		sec, frac := math.Modf(f)
		return time.Unix(int64(sec), int64(frac*1e9)).UTC(), nil
	}
	return time.Time{}, usageError{fmt.Sprintf("%s: %q is not RFC 3339 (2026-01-05T10:00:00Z), Unix seconds, now or a duration before now (-7d, now-2h)", name, v)}
}

// runBacktest is `eventops rules backtest`.
func runBacktest(ctx context.Context, cfg *Config, args []string, log *slog.Logger) error {
	a, err := parseBacktestArgs(cfg, args, time.Now().UTC())
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	var in backtestFiles
	if in.rules, err = rules.LoadFiles(rules.Options{}, a.rules); err != nil {
		return fmt.Errorf("--rules: %w", err)
	}
	if a.compare != "" {
		if in.old, err = rules.LoadFiles(rules.Options{}, a.compare); err != nil {
			return fmt.Errorf("--compare: %w", err)
		}
	}
	if a.receivers != "" {
		if in.receivers, err = notify.Load(a.receivers); err != nil {
			return fmt.Errorf("--receivers: %w", err)
		}
	}
	db, err := store.Open(ctx, store.Options{URL: a.databaseURL, MaxConns: 2, Logger: log})
	if err != nil {
		return fmt.Errorf("--database-url: %w", err)
	}
	defer db.Close()
	if err := db.Ping(ctx); err != nil {
		return fmt.Errorf("--database-url: %w", err)
	}
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	if err := writeBacktest(ctx, cfg, a, in, db, out); err != nil {
		return err
	}
	return out.Flush()
}

// backtestFiles are the files a backtest runs with, loaded: old and
// receivers are nil without --compare and --receivers.
type backtestFiles struct {
	rules, old *rules.RuleSet
	receivers  *notify.Config
}

// writeBacktest replays the history h holds over a's range through the
// rules of in and writes the transitions, then the summaries, to w. With
// --compare, one scan feeds both rule files (replayBoth). A run that
// fails once the output began ends it with the error, so that a JSON
// document stays one document; the error is returned.
func writeBacktest(ctx context.Context, cfg *Config, a backtestArgs, in backtestFiles, h backtest.History, w io.Writer) error {
	var p backtestPrinter = &tablePrinter{w: w, receivers: a.receivers}
	if a.format == "json" {
		p = &jsonPrinter{w: w}
	}
	if err := p.begin(a); err != nil {
		return err
	}
	res, err := replayBacktest(ctx, cfg, a, in, h, p)
	if err != nil {
		return errors.Join(err, p.fail(err))
	}
	return p.end(res)
}

// replayBacktest runs the backtest, handing p the transitions of --rules
// as they come, and returns the summaries.
func replayBacktest(ctx context.Context, cfg *Config, a backtestArgs, in backtestFiles, h backtest.History, p backtestPrinter) (*backtestResult, error) {
	q := store.SignalScan{Tenant: a.tenant, Host: a.host, From: a.from, To: a.to}
	var sum, oldSum backtest.Summarizer
	start := time.Now()
	opts := backtest.Options{Rules: in.rules, MaxSeries: cfg.MaxSeries, SeriesStaleAfter: cfg.SeriesStale, LeadIn: a.leadIn}
	opts.Open = func(tr *rules.Transition) error {
		sum.AddOpen(tr)
		return p.open(tr)
	}
	emit := func(tr *rules.Transition) error {
		sum.Add(tr)
		return p.transition(tr)
	}
	var stats, oldStats backtest.Stats
	var err error
	if in.old == nil {
		stats, err = backtest.Run(ctx, h, q, opts, emit)
	} else {
		oldOpts := opts
		oldOpts.Rules, oldOpts.Open = in.old, func(tr *rules.Transition) error {
			oldSum.AddOpen(tr)
			return nil
		}
		stats, oldStats, err = replayBoth(ctx, h, q, opts, oldOpts, emit, func(tr *rules.Transition) error {
			oldSum.Add(tr)
			return nil
		})
	}
	if err != nil {
		return nil, fmt.Errorf("backtest of %s: %w", a.rules, err)
	}
	res := &backtestResult{Stats: stats, Elapsed: time.Since(start),
		Summary: sum.Summary(backtest.SummaryOptions{From: a.from, Until: a.to, Receivers: in.receivers, Rules: in.rules, Tenant: a.tenant})}
	if in.old != nil {
		res.Old = &backtestSide{File: a.compare, Stats: oldStats,
			Summary: oldSum.Summary(backtest.SummaryOptions{From: a.from, Until: a.to, Receivers: in.receivers, Rules: in.old, Tenant: a.tenant})}
		res.Compare = backtest.Compare(oldSum.Spans().List(), sum.Spans().List(),
			backtest.CompareOptions{From: a.from, Until: a.to, Old: in.old, New: in.rules})
	}
	return res, nil
}

// replayBoth replays one scan of h through two rule sets, each signal
// through the second (in a goroutine of its own, in step) and then the
// first: the scan takes no snapshot, so two scans of a range that ends
// near now could read different samples (those written in between), and
// a comparison would show differences no rule made. It also reads the
// history once. The scan starts at the earlier of the two replays' starts
// (each reads a lead-in of its own rules, see backtest.Options.LeadIn), and each is
// handed the signals from its own start.
func replayBoth(ctx context.Context, h backtest.History, q store.SignalScan, opts, otherOpts backtest.Options,
	emit, otherEmit func(*rules.Transition) error) (stats, other backtest.Stats, err error) {
	t := &teeHistory{h: h, otherScan: make(chan store.SignalScan, 1), sigs: make(chan *tables.Signal),
		acks: make(chan error, 1), done: make(chan struct{})}
	var otherErr error
	go func() {
		defer close(t.done)
		other, otherErr = backtest.Run(ctx, stepHistory{t}, q, otherOpts, otherEmit)
	}()
	stats, err = backtest.Run(ctx, t, q, opts, emit)
	close(t.sigs)
	<-t.done
	if err == nil || errors.Is(err, errOtherStopped) {
		err = cmp.Or(otherErr, err)
	}
	return stats, other, err
}

// errOtherStopped: the second replay of replayBoth stopped, with its own
// error.
var errOtherStopped = errors.New("the other replay stopped")

// teeHistory is h, each signal handed to the second replay (and its
// answer awaited) before the first's.
type teeHistory struct {
	h backtest.History
	// otherScan is the scan the second replay asks for.
	otherScan chan store.SignalScan
	sigs      chan *tables.Signal
	// acks answers each signal sent: the second replay's error, if any.
	acks chan error
	// done is closed once the second replay returned.
	done chan struct{}
}

func (t *teeHistory) ScanSignals(ctx context.Context, q store.SignalScan, fn func(*tables.Signal) error) error {
	var oq store.SignalScan
	select {
	case oq = <-t.otherScan:
	case <-t.done:
		return errOtherStopped
	}
	scan := q
	if oq.From.IsZero() || oq.From.Before(scan.From) {
		scan.From = oq.From
	}
	return t.h.ScanSignals(ctx, scan, func(sig *tables.Signal) error {
		if reads(oq, sig) {
			select {
			case t.sigs <- sig:
			case <-t.done:
				return errOtherStopped
			}
			if err := <-t.acks; err != nil {
				return errOtherStopped
			}
		}
		if !reads(q, sig) {
			return nil
		}
		return fn(sig)
	})
}

// reads reports whether scan q reads sig (of one event time): q has the
// tenant, host and end of the scan it comes from, only its start may be
// later.
func reads(q store.SignalScan, sig *tables.Signal) bool {
	return q.From.IsZero() || len(sig.Samples) == 0 || sig.Samples[0].TsMicro >= q.From.UnixMicro()
}

// stepHistory is the second replay's view of a teeHistory: the signals
// sent to it, each answered.
type stepHistory struct{ t *teeHistory }

func (s stepHistory) ScanSignals(_ context.Context, q store.SignalScan, fn func(*tables.Signal) error) error {
	s.t.otherScan <- q
	for sig := range s.t.sigs {
		err := fn(sig)
		s.t.acks <- err
		if err != nil {
			return err
		}
	}
	return nil
}

// backtestResult is what a backtest prints after its transitions.
type backtestResult struct {
	Stats   backtest.Stats
	Elapsed time.Duration
	Summary *backtest.Summary
	// Old and Compare: with --compare.
	Old     *backtestSide
	Compare *backtest.Comparison
}

// backtestSide is the backtest of the --compare file.
type backtestSide struct {
	File    string            `json:"file"`
	Stats   backtest.Stats    `json:"stats"`
	Summary *backtest.Summary `json:"summary"`
}

// backtestPrinter writes a backtest as it goes: its transitions as they
// come, so that nothing but the episodes is kept, and the episodes open at
// --from (carried in from the lead-in) as the run reaches it.
type backtestPrinter interface {
	begin(a backtestArgs) error
	open(tr *rules.Transition) error
	transition(tr *rules.Transition) error
	end(res *backtestResult) error
	// fail ends the output of a backtest stopped by err.
	fail(err error) error
}

// jsonPrinter writes one JSON document: {"rules", "from", "to",
// "transitions": [...], "open": [...], "summary", "stats", and with
// --compare "old" and "compare"}, the transitions streamed one a line;
// open lists the episodes open at --from, as transitions that describe
// them (At is --from), kept until the end.
type jsonPrinter struct {
	w          io.Writer
	n          int
	openAtFrom []*rules.Transition
}

func (p *jsonPrinter) open(tr *rules.Transition) error {
	p.openAtFrom = append(p.openAtFrom, tr)
	return nil
}

func (p *jsonPrinter) begin(a backtestArgs) error {
	head, err := json.Marshal(map[string]any{"rules": a.rules, "from": a.from, "to": a.to, "tenant": a.tenant, "host": a.host})
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(p.w, "%s,\n\"transitions\": [", head[:len(head)-1])
	return err
}

func (p *jsonPrinter) transition(tr *rules.Transition) error {
	b, err := json.Marshal(tr)
	if err != nil {
		return err
	}
	sep := ",\n"
	if p.n == 0 {
		sep = "\n"
	}
	p.n++
	_, err = fmt.Fprintf(p.w, "%s%s", sep, b)
	return err
}

func (p *jsonPrinter) end(res *backtestResult) error {
	open := p.openAtFrom
	if open == nil {
		open = []*rules.Transition{}
	}
	tail := struct {
		Open    []*rules.Transition  `json:"open"`
		Summary *backtest.Summary    `json:"summary"`
		Stats   backtestStats        `json:"stats"`
		Old     *backtestSide        `json:"old,omitempty"`
		Compare *backtest.Comparison `json:"compare,omitempty"`
	}{open, res.Summary, backtestStats{res.Stats, res.Elapsed.Seconds(), samplesPerSecond(res)}, res.Old, res.Compare}
	b, err := json.Marshal(tail)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(p.w, "\n],\n%s\n", b[1:])
	return err
}

func (p *jsonPrinter) fail(failed error) error {
	b, err := json.Marshal(failed.Error())
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(p.w, "\n],\n\"error\": %s}\n", b)
	return err
}

// backtestStats are a run's counts with its speed.
type backtestStats struct {
	backtest.Stats
	Seconds          float64 `json:"seconds"`
	SamplesPerSecond float64 `json:"samples_per_second"`
}

func samplesPerSecond(res *backtestResult) float64 {
	if res.Elapsed <= 0 {
		return 0
	}
	return math.Round(float64(res.Stats.Samples) / res.Elapsed.Seconds())
}

// tablePrinter writes a line per transition, then tables.
type tablePrinter struct {
	w         io.Writer
	n         int
	receivers string
}

// routing names the receivers file a summary counted through.
func routing(s *backtest.Summary, file string) string {
	if file != "" {
		return "the receivers file " + file
	}
	return s.Routing
}

const transitionLine = "%-24s  %-20s  %-16s  %-12s  %-9s  %6s  %s\n"

func (p *tablePrinter) begin(a backtestArgs) error {
	what := "every source"
	if a.tenant != "" || a.host != "" {
		what = "tenant " + orAny(a.tenant) + ", host " + orAny(a.host)
	}
	if !a.toAsked.IsZero() {
		what += " (--to " + a.toAsked.Format(time.RFC3339) + " is after now: the range ends now)"
	}
	_, err := fmt.Fprintf(p.w, "backtest of %s over %s .. %s, %s (transitions per source, in event time)\n\n"+transitionLine,
		a.rules, a.from.Format(time.RFC3339), a.to.Format(time.RFC3339), what,
		"TIME", "RULE", "SOURCE", "SERIES", "STATE", "VALUE", "WHY")
	return err
}

func orAny(s string) string {
	if s == "" {
		return "any"
	}
	return s
}

// open writes an episode open at --from: "open at FROM: RULE SOURCE
// SERIES firing since T (pending since T) value V".
func (p *tablePrinter) open(tr *rules.Transition) error {
	since := tr.State + " since " + tr.StartsAt.String()
	if tr.State == rules.StateFiring {
		since += " (pending since " + tr.ActiveAt.String() + ")"
	}
	_, err := fmt.Fprintf(p.w, "open at %s: %s %s %s%s, value %s\n", tr.At.String(), tr.Group+"/"+tr.AlertName,
		tr.Tenant+"/"+tr.Host, strings.TrimSpace(tagString(tr.Tags)+" "), since, number(float64(tr.Value)))
	return err
}

func (p *tablePrinter) transition(tr *rules.Transition) error {
	p.n++
	state := tr.State
	if tr.Resend {
		state += "*"
	}
	_, err := fmt.Fprintf(p.w, transitionLine, tr.At.String(), tr.Group+"/"+tr.AlertName, tr.Tenant+"/"+tr.Host,
		tagString(tr.Tags), state, number(float64(tr.Value)), explainLine(tr))
	return err
}

func (p *tablePrinter) end(res *backtestResult) error {
	if p.n == 0 {
		fmt.Fprintln(p.w, "(no transition)")
	}
	fmt.Fprintf(p.w, "\nsummary per rule\n  notifications counted through: %s\n  not applied: %s\n",
		routing(res.Summary, p.receivers), strings.Join(res.Summary.NotApplied, ", "))
	if err := writeSummary(p.w, res.Summary); err != nil {
		return err
	}
	st := res.Stats
	fmt.Fprintf(p.w, "\nread %d samples (%d signals) of %d sources in %s (%.0f samples/s); %d transitions\n",
		st.Samples, st.Signals, st.Sources, res.Elapsed.Round(time.Millisecond), samplesPerSecond(res), st.Transitions)
	if len(st.Refused) > 0 {
		var parts []string
		for _, k := range slices.Sorted(maps.Keys(st.Refused)) {
			parts = append(parts, fmt.Sprintf("%s %d", k, st.Refused[k]))
		}
		fmt.Fprintf(p.w, "samples the engine refused: %s\n", strings.Join(parts, ", "))
	}
	if res.Compare != nil {
		fmt.Fprintf(p.w, "\nsummary per rule of %s\n", res.Old.File)
		if err := writeSummary(p.w, res.Old.Summary); err != nil {
			return err
		}
		fmt.Fprintf(p.w, "\ndifferences from %s, per rule and series (episodes paired by overlap, in pending order)\n", res.Old.File)
		return writeComparison(p.w, res.Compare)
	}
	return nil
}

func (p *tablePrinter) fail(failed error) error {
	_, err := fmt.Fprintf(p.w, "\nstopped after %d transitions: %v\n", p.n, failed)
	return err
}

func writeSummary(w io.Writer, s *backtest.Summary) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RULE\tRULE ID\tEPISODES\tFIRED\tFIRING\tSERIES\tPAGES\tRESOLVED\tREPEATS")
	for _, r := range s.Rules {
		name := r.Group + "/" + r.AlertName
		if r.Shadow {
			name += " (shadow)"
		}
		if r.NotForTenant {
			name += " (not for this tenant)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%d\t%d\t%d\t%d\n", name, r.RuleID, r.Episodes, r.Fired,
			millis(r.FiringMilli), r.Series, r.Pages, r.Resolved, r.Repeats)
	}
	fmt.Fprintf(tw, "all rules\t\t\t\t\t\t%d\t%d\t%d\n", s.Total.Pages, s.Total.Resolved, s.Total.Repeats)
	return tw.Flush()
}

func writeComparison(w io.Writer, c *backtest.Comparison) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RULE / SERIES\tEPISODES\tFIRED\tADDED\tREMOVED\tEARLIER\tLATER\tCHANGED\tFIRING\tDELTA")
	for _, r := range c.Rules {
		row := func(name string, d backtest.DiffCounts) {
			fmt.Fprintf(tw, "%s\t%d -> %d\t%d -> %d\t%d\t%d\t%d\t%d\t%d\t%s -> %s\t%s\n", name, d.EpisodesOld, d.EpisodesNew,
				d.FiredOld, d.FiredNew, d.Added, d.Removed, d.Earlier, d.Later, d.Changed,
				millis(d.FiringMilliOld), millis(d.FiringMilliNew), signedMillis(d.FiringDeltaMilli))
		}
		row(r.Group+"/"+r.AlertName, r.DiffCounts)
		for _, s := range r.Series {
			row(strings.TrimRight("  "+s.Tenant+"/"+s.Host+" "+tagString(s.Tags), " "), s.DiffCounts)
			for _, ch := range s.Changes {
				kind := ch.Kind
				if ch.Old != nil {
					fmt.Fprintf(tw, "    %s\told %s\n", kind, spanLine(ch.Old))
					kind = ""
				}
				if ch.New != nil {
					shift := ""
					if ch.ShiftMilli != 0 {
						shift = " (pending " + signedMillis(ch.ShiftMilli) + ")"
					}
					fmt.Fprintf(tw, "    %s\tnew %s%s\n", kind, spanLine(ch.New), shift)
				}
			}
		}
	}
	return tw.Flush()
}

// spanLine says when an episode went pending, fired and ended; the times
// of its pending day without their date.
func spanLine(s *backtest.Span) string {
	day := s.PendingAt.Time().Format(time.DateOnly)
	when := func(t rules.Timestamp) string {
		if f := t.Time().Format(time.DateTime); strings.HasPrefix(f, day) {
			return f[len(day)+1:]
		}
		return t.Time().Format(time.DateTime)
	}
	out := "pending " + s.PendingAt.Time().Format(time.DateTime)
	if s.Carried {
		out += " (open at --from)"
	}
	if s.Fired() {
		out += ", firing " + when(s.FiringAt)
	}
	if s.EndAt != 0 {
		out += ", " + s.EndState + " " + when(s.EndAt)
	} else {
		out += ", open"
	}
	return out
}

func millis(ms int64) string { return rules.FormatDuration(time.Duration(ms) * time.Millisecond) }

func signedMillis(ms int64) string {
	if ms > 0 {
		return "+" + millis(ms)
	}
	return millis(ms)
}

// tagString writes a series' tags as {k="v", ...}, sorted by name; a
// series without tags as nothing.
func tagString(tags map[string]string) string {
	if len(tags) == 0 {
		return ""
	}
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + strconv.Quote(tags[k])
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

func number(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "-"
	}
	return strconv.FormatFloat(v, 'g', 6, 64)
}

// explainLine is the one-line summary of a transition's explanation, as the
// dashboard heads it: what ended it, or the comparison that decided.
func explainLine(tr *rules.Transition) string {
	x := tr.Explanation
	switch {
	case tr.Reason != "" && (x == nil || x.Resolution == nil):
		return "ended: " + tr.Reason
	case x == nil:
		return ""
	case x.Resolution != nil:
		return "ended by " + strings.ReplaceAll(x.Resolution.By, "_", " ") + " at " + number(float64(x.Resolution.Value))
	case x.Crossed != nil:
		c := x.Crossed
		rel := c.Side
		if rel == "" {
			rel = c.Op
		}
		return c.Comparison + ": " + number(float64(c.Value)) + " " + rel + " " + number(float64(c.Threshold))
	}
	return ""
}
