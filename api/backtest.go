package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"gopkg.in/yaml.v3"

	"github.com/eventops/eventops/backtest"
	"github.com/eventops/eventops/rules"
	"github.com/eventops/eventops/store"
	"github.com/eventops/eventops/tables"
)

// Backtest limits: what one POST /rules/backtest may cost. It also runs in
// one of its tenant's query slots and under QueryTimeout, as every query.
const (
	// DefaultBacktestMaxRange bounds from..to of a backtest.
	DefaultBacktestMaxRange = 31 * 24 * time.Hour
	// DefaultBacktestMaxSamples bounds the samples one backtest reads: past
	// it the backtest stops and answers 422 (a partial replay would show
	// sources and times it never reached as quiet). A backtest read about
	// 30,000 samples/s from PostgreSQL here, so the bound is met well
	// within DefaultQueryTimeout.
	DefaultBacktestMaxSamples = 500_000
	// BacktestMaxTransitions bounds the transitions an answer lists (the
	// rest are counted, and truncated says so); BacktestMaxSpans the
	// episodes (spans_truncated).
	BacktestMaxTransitions = 1000
	BacktestMaxSpans       = 10_000
	// BacktestMaxListBytes bounds the transitions, and the spans, an
	// answer lists by their size (about their JSON's): a rule's labels
	// come from the request, and a YAML alias repeats a long value at no
	// cost to the file, so a count alone bounds no memory.
	BacktestMaxListBytes = 8 << 20
	// BacktestMaxRules bounds the rules of a backtest's rule file. A
	// source's alert states are a sorted list that grows by insertion
	// within one engine step, which no deadline interrupts, and a
	// backtest does not bound a source's state as the replicas do: 91
	// rules over a source of 500 series took 7.7 s of one step here,
	// quadratic in rules times series. Larger files are for
	// `eventops rules backtest`.
	BacktestMaxRules = 100
	// maxBacktestBody bounds the request (a rule file's text included).
	maxBacktestBody = 256 << 10
	// previewGroup and previewAlert name the rule an expr is built into.
	previewGroup = "preview"
	previewAlert = "Preview"
)

// backtestRequest is the body of POST /rules/backtest: a rule file's text,
// or one expression with its timings.
type backtestRequest struct {
	Rules         string `json:"rules"`
	Expr          string `json:"expr"`
	Clear         string `json:"clear"`
	For           string `json:"for"`
	KeepFiringFor string `json:"keep_firing_for"`
	Host          string `json:"host"`
	From          string `json:"from"`
	To            string `json:"to"`
	// LeadIn is backtest.Options.LeadIn as a duration ("0": none; empty:
	// the longest window a rule reads plus its for and keep_firing_for),
	// at most BacktestMaxRange.
	LeadIn string `json:"lead_in"`
}

// backtestResponse is its answer.
type backtestResponse struct {
	Tenant string    `json:"tenant"`
	Host   string    `json:"host,omitempty"`
	From   time.Time `json:"from"`
	To     time.Time `json:"to"`
	// Episodes and Fired count the spans, and those that reached firing.
	Episodes int              `json:"episodes"`
	Fired    int              `json:"fired"`
	Spans    []*backtest.Span `json:"spans"`
	// Transitions are the first BacktestMaxTransitions (or fewer, within
	// BacktestMaxListBytes), in the order the engine emitted them;
	// Truncated says there were more.
	Transitions    []*rules.Transition `json:"transitions"`
	Truncated      bool                `json:"truncated"`
	SpansTruncated bool                `json:"spans_truncated"`
	Stats          backtest.Stats      `json:"stats"`
}

// errTooManySamples stops a backtest that read more than its bound.
var errTooManySamples = errors.New("backtest: too many samples")

// errForeignSample stops a backtest whose history returned a sample of
// another tenant or host than asked: nothing of it may be answered.
var errForeignSample = errors.New("backtest: the history returned a sample outside the scan")

// backtestRules serves POST /rules/backtest: the tenant's stored samples
// of a time range replayed through the engine with the rules of the body,
// answered as the pending and firing spans of every episode, the
// transitions and the counts. Nothing is saved and nothing is notified.
func (s *Server) backtestRules(c *fiber.Ctx) error {
	if err := checkParams(c, []string{"tenant"}); err != nil {
		return err
	}
	tenant, err := s.requestTenant(c)
	if err != nil {
		return err
	}
	if err := requireContentType(c, fiber.MIMEApplicationJSON); err != nil {
		return err
	}
	body, err := readBody(c, maxBacktestBody, false)
	if err != nil {
		return err
	}
	var req backtestRequest
	if err := decodeBody(body, &req, "a backtest request"); err != nil {
		return err
	}
	rs, err := s.backtestRuleSet(req)
	if err != nil {
		return err
	}
	q, err := s.backtestScan(req, tenant, time.Now())
	if err != nil {
		return err
	}
	h, err := optionalStore(s.opts.History, s.opts.Store, "backtests")
	if err != nil {
		return err
	}
	engine := s.opts.Engine
	engine.Rules = rs
	if engine.LeadIn, err = s.backtestLeadIn(req, engine.LeadIn); err != nil {
		return err
	}
	// The lead-in the rules take by default is bounded as one asked for.
	engine.LeadIn = min(engine.LeadInUsed(), s.opts.BacktestMaxRange)
	if engine.LeadIn == 0 {
		engine.LeadIn = -1
	}
	bounded := &boundedHistory{h: h, tenant: q.Tenant, host: q.Host, max: int64(s.opts.BacktestMaxSamples)}
	resp := backtestResponse{Tenant: q.Tenant, Host: q.Host, From: q.From, To: q.To, Transitions: []*rules.Transition{}}
	var spans backtest.Spans
	seen := map[string]bool{}
	var transitionBytes, spanBytes int
	// keep tells whether an episode has, or may take, a span.
	keep := func(tr *rules.Transition) bool {
		if !seen[tr.EpisodeID] {
			n := sizeOfSpan(tr)
			if len(seen) >= BacktestMaxSpans || spanBytes+n > BacktestMaxListBytes {
				resp.SpansTruncated = true
				return false
			}
			seen[tr.EpisodeID] = true
			spanBytes += n
		}
		return true
	}
	// The episodes open at from are drawn from before it (carried).
	engine.Open = func(tr *rules.Transition) error {
		if keep(tr) {
			spans.AddOpen(tr)
		}
		return nil
	}
	stats, err := backtest.Run(c.UserContext(), bounded, q, engine, func(tr *rules.Transition) error {
		if !resp.Truncated {
			n := sizeOfTransition(tr)
			if len(resp.Transitions) < BacktestMaxTransitions && transitionBytes+n <= BacktestMaxListBytes {
				resp.Transitions = append(resp.Transitions, tr)
				transitionBytes += n
			} else {
				resp.Truncated = true
			}
		}
		if keep(tr) {
			spans.Add(tr)
		}
		return nil
	})
	switch {
	case errors.Is(err, errTooManySamples):
		return &Problem{Type: "about:blank", Title: "Unprocessable Entity", Status: fiber.StatusUnprocessableEntity,
			Detail: fmt.Sprintf("the range and its lead-in before from hold more than %d samples, the limit of one backtest: narrow it with host, from and to, or a shorter lead_in (\"0\": none)", s.opts.BacktestMaxSamples)}
	case errors.Is(err, errForeignSample):
		s.log.Error("backtest refused: the history returned a sample outside its scan", "tenant", q.Tenant, "host", q.Host, "err", err)
		return fmt.Errorf("backtest of tenant %s: %w", q.Tenant, err)
	case err != nil:
		return err
	}
	resp.Stats = stats
	resp.Spans = spans.Sorted()
	if resp.Spans == nil {
		resp.Spans = []*backtest.Span{}
	}
	resp.Episodes = len(resp.Spans)
	for _, sp := range resp.Spans {
		if sp.Fired() {
			resp.Fired++
		}
	}
	b, err := json.Marshal(resp)
	if err != nil {
		return err
	}
	// An answer can be megabytes: it stays in the slot until it is sent.
	return s.sendInSlot(c, b)
}

// backtestScan is the scan a backtest request selects for tenant: from is
// required, to defaults to now and is at most now (the sources' timers
// run to the end of the range, and time after now has not happened), and
// the range is at most BacktestMaxRange.
func (s *Server) backtestScan(req backtestRequest, tenant string, now time.Time) (store.SignalScan, error) {
	q := store.SignalScan{Tenant: tenant, Host: req.Host}
	if len(q.Host) > 256 {
		return q, badRequest("host is longer than 256 bytes")
	}
	if !validText([]byte(q.Host)) {
		// PostgreSQL text holds no NUL: the scan would fail, not the caller.
		return q, badRequest("host is not text without NUL bytes")
	}
	var err error
	if req.From == "" {
		return q, badRequest("from is required: the start of the history to replay")
	}
	if q.From, err = parseTime("from", req.From); err != nil {
		return q, err
	}
	if q.To, err = parseTime("to", req.To); err != nil {
		return q, err
	}
	if q.To.IsZero() || q.To.After(now) {
		q.To = now.UTC()
	}
	if !q.From.Before(q.To) {
		return q, badRequest("from %s is not before to %s", q.From.Format(time.RFC3339), q.To.Format(time.RFC3339))
	}
	if span := q.To.Sub(q.From); span > s.opts.BacktestMaxRange {
		return q, badRequest("the range from %s to %s is %s, longer than the limit of %s of a backtest: narrow from and to",
			q.From.Format(time.RFC3339), q.To.Format(time.RFC3339), span.Round(time.Minute), s.opts.BacktestMaxRange)
	}
	return q, nil
}

// backtestLeadIn is the lead-in a backtest request asks for, at most
// BacktestMaxRange (see backtestRequest.LeadIn), or def when it asks none.
func (s *Server) backtestLeadIn(req backtestRequest, def time.Duration) (time.Duration, error) {
	if req.LeadIn == "" {
		return def, nil
	}
	d, err := rules.ParseDuration(req.LeadIn)
	switch {
	case err != nil:
		return 0, badRequest("lead_in: %q: %v", req.LeadIn, err)
	case d > s.opts.BacktestMaxRange:
		return 0, badRequest("lead_in %s is longer than the limit of %s of a backtest", req.LeadIn, s.opts.BacktestMaxRange)
	case d == 0:
		return -1, nil
	}
	return d, nil
}

// backtestRuleSet loads the rules of a request with the loader the
// replicas use and their options (windows, half-lives, resends), its
// annotation templates checked and never executed: the
// rule file of rules, or a file of one rule built from expr, for, clear
// and keep_firing_for over the metric catalog of the rules in force. A
// problem is a 400 that lists each, by line of the file (of rules) or by
// field (of expr).
func (s *Server) backtestRuleSet(req backtestRequest) (*rules.RuleSet, error) {
	var inForce *rules.RuleSet
	if s.opts.RulesInForce != nil {
		inForce = s.opts.RulesInForce()
	}
	var opts rules.Options
	if inForce != nil {
		opts = inForce.Options()
	}
	// The caller's templates would run on this server without a bound on
	// their time: they are checked, not rendered.
	opts.SkipAnnotations = true
	oneRule := req.Expr != "" || req.For != "" || req.Clear != "" || req.KeepFiringFor != ""
	switch {
	case req.Rules != "" && oneRule:
		return nil, badRequest("give either rules (a rule file) or expr (with for, clear, keep_firing_for), not both")
	case req.Rules != "":
		rs, err := rules.Parse("rules", []byte(req.Rules), opts)
		if err != nil {
			return nil, ruleProblem(err, false)
		}
		if rs.Len() == 0 {
			return nil, badRequest("the rule file has no rules")
		}
		if rs.Len() > BacktestMaxRules {
			return nil, badRequest("the rule file has %d rules, more than the %d of one backtest: send fewer at a time (eventops rules backtest takes a whole file)",
				rs.Len(), BacktestMaxRules)
		}
		return rs, nil
	case req.Expr == "":
		return nil, badRequest("rules (a rule file) or expr (a rule expression) is required")
	}
	file, err := oneRuleFile(req, inForce)
	if err != nil {
		return nil, err
	}
	rs, err := rules.Parse("expr", file, opts)
	if err != nil {
		return nil, ruleProblem(err, true)
	}
	return rs, nil
}

// oneRuleFile writes a rule file of one rule, previewAlert of group
// previewGroup, from expr and its timings, with the metric catalog of
// inForce.
func oneRuleFile(req backtestRequest, inForce *rules.RuleSet) (file []byte, err error) {
	type metric struct {
		Name     string `yaml:"name"`
		Kind     string `yaml:"kind"`
		Unit     string `yaml:"unit,omitempty"`
		Lateness string `yaml:"lateness,omitempty"`
	}
	type rule struct {
		Alert         string `yaml:"alert"`
		Expr          string `yaml:"expr"`
		Clear         string `yaml:"clear,omitempty"`
		For           string `yaml:"for,omitempty"`
		KeepFiringFor string `yaml:"keep_firing_for,omitempty"`
	}
	type group struct {
		Name  string `yaml:"name"`
		Rules []rule `yaml:"rules"`
	}
	var f struct {
		Metrics []metric `yaml:"metrics,omitempty"`
		Groups  []group  `yaml:"groups"`
	}
	if inForce != nil {
		for _, m := range inForce.Metrics() {
			mm := metric{Name: m.Name, Kind: m.Kind.String(), Unit: m.Unit}
			if m.Lateness > 0 {
				mm.Lateness = rules.FormatDuration(m.Lateness)
			}
			f.Metrics = append(f.Metrics, mm)
		}
	}
	f.Groups = []group{{Name: previewGroup, Rules: []rule{{Alert: previewAlert, Expr: req.Expr, Clear: req.Clear,
		For: req.For, KeepFiringFor: req.KeepFiringFor}}}}
	file, err = yaml.Marshal(&f)
	if err != nil {
		return nil, badRequest("the rule cannot be written as a rule file: %v", err)
	}
	return file, nil
}

// ruleProblem is the 400 of rules that do not load, with each problem:
// by line of a rule file, or for a single expression (oneRule) by the
// field the loader names.
func ruleProblem(err error, oneRule bool) error {
	var errs rules.Errors
	if !errors.As(err, &errs) || len(errs) == 0 {
		return badRequest("the rules do not load: %v", err)
	}
	p := &Problem{Type: "about:blank", Title: "Bad Request", Status: fiber.StatusBadRequest}
	for i, e := range errs {
		item := ItemError{Index: i, Line: e.Line, Reason: "invalid_rule", Detail: e.Msg}
		if oneRule {
			// The file is the API's, not the caller's: no line, and the
			// field named as the caller named it.
			item.Line = 0
			item.Detail = strings.TrimPrefix(e.Msg, fmt.Sprintf("alert %q: ", previewAlert))
			item.Detail = strings.Replace(item.Detail, "(not in metrics:)", "(not among the metrics of the rules in force)", 1)
		}
		p.Errors = append(p.Errors, item)
	}
	where := p.Errors[0].Detail
	if p.Errors[0].Line > 0 {
		where = fmt.Sprintf("line %d: %s", p.Errors[0].Line, where)
	}
	p.Detail = "the rules do not load: " + where
	if len(errs) > 1 {
		p.Detail = fmt.Sprintf("the rules do not load (%d problems): %s", len(errs), where)
	}
	return p
}

// boundedHistory is the history of one backtest: it stops the scan past
// max samples, and at any sample outside the tenant (and host) asked for,
// so that whatever the store returns, a backtest reads its tenant's
// samples only.
type boundedHistory struct {
	h            backtest.History
	tenant, host string
	max, samples int64
}

func (b *boundedHistory) ScanSignals(ctx context.Context, q store.SignalScan, fn func(*tables.Signal) error) error {
	return b.h.ScanSignals(ctx, q, func(sig *tables.Signal) error {
		if sig.Tenant != b.tenant || (b.host != "" && sig.Host != b.host) {
			return fmt.Errorf("%w: %s/%s", errForeignSample, sig.Tenant, sig.Host)
		}
		b.samples += int64(len(sig.Samples))
		if b.samples > b.max {
			return errTooManySamples
		}
		return fn(sig)
	})
}

// sizeOfTransition is about the size of tr's JSON, counting its strings
// (a fixed part for the rest, and the explanation at its bound).
func sizeOfTransition(tr *rules.Transition) int {
	n := 512 + rules.MaxExplanationBytes + len(tr.AlertName) + len(tr.Group) + len(tr.Tenant) + len(tr.Host) + len(tr.Reason) +
		sizeOfMap(tr.Labels) + sizeOfMap(tr.Tags) + sizeOfMap(tr.Annotations)
	for k := range tr.Features {
		n += len(k) + 32
	}
	return n
}

// sizeOfSpan is about the size of the JSON of the span tr starts.
func sizeOfSpan(tr *rules.Transition) int {
	return 256 + len(tr.AlertName) + len(tr.Group) + len(tr.Tenant) + len(tr.Host) + sizeOfMap(tr.Tags)
}

func sizeOfMap(m map[string]string) int {
	n := 0
	for k, v := range m {
		n += len(k) + len(v) + 6
	}
	return n
}
