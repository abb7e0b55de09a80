package rules

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"iter"
	"math"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/eventops/eventops/features"
	"gopkg.in/yaml.v3"
)

// MetricKind says how a metric's values behave.
type MetricKind uint8

const (
	// Gauge values go up and down (cpu_load).
	Gauge MetricKind = iota
	// Counter values only grow, except on resets (requests_total);
	// counter_rate and increase are only allowed on counters.
	Counter
)

// KindOf is the kind of a metric whose kind is not declared: a counter when
// its name ends as Prometheus names counters and the parts of histograms
// and summaries do (_total, _count, _sum, _bucket; PromQL warns about
// rate() on any other name), a gauge otherwise. Metrics that arrive by
// OTLP get _total when they are monotonic sums, so the rule holds whichever
// protocol sent a metric.
func KindOf(name string) MetricKind {
	for _, suffix := range [...]string{"_total", "_count", "_sum", "_bucket"} {
		if strings.HasSuffix(name, suffix) {
			return Counter
		}
	}
	return Gauge
}

func (k MetricKind) String() string {
	if k == Counter {
		return "counter"
	}
	return "gauge"
}

// Metric is an entry of the catalog of metrics rules may read.
type Metric struct {
	Name     string
	Kind     MetricKind
	Unit     string
	Lateness time.Duration // 0: the feature engine's default
}

// Severities are the allowed values of the severity label; a rule without one
// gets DefaultSeverity.
const (
	SeverityCritical = "critical"
	SeverityWarning  = "warning"
	SeverityInfo     = "info"
	DefaultSeverity  = SeverityWarning
)

// Reserved labels are set on every alert and cannot be set by a rule.
const (
	LabelAlertName = "alertname"
	LabelTenant    = "tenant"
	LabelHost      = "host"
	LabelSeverity  = "severity"
)

// Options are what a rule set is checked against. Zero fields get defaults.
type Options struct {
	// Features is the base feature-engine config of every metric (a metric's
	// lateness and kind are applied on top, see Metric.FeatureConfig).
	// Expressions may only name its Windows, and ewma/ewmvar only its
	// HalfLives. Nil fields take features.DefaultConfig's (windows 1m 5m 15m
	// 1h, half-lives 1m 10m); a non-nil empty HalfLives allows no ewma.
	Features features.Config
	// ResendInterval, when positive, makes a firing alert emit a reminder
	// transition (state firing, resend true) every interval. 0: never.
	ResendInterval time.Duration
	// MaxExprNodes bounds the size of one expression (default 256 AST nodes).
	MaxExprNodes uint
	// SkipAnnotations checks the annotation templates' syntax and never
	// executes them, at load or in transitions (which then carry none):
	// for rules from a caller who may not spend the server's time, since
	// a template's execution has no bound (range over an integer,
	// templates that call each other).
	SkipAnnotations bool
}

func (o Options) withDefaults() Options {
	d := features.DefaultConfig()
	if o.Features.Windows == nil {
		o.Features.Windows = d.Windows
	}
	if o.Features.HalfLives == nil {
		o.Features.HalfLives = d.HalfLives
	}
	if o.Features.Lateness == 0 {
		o.Features.Lateness = d.Lateness
	}
	o.Features.Windows = slices.Clone(o.Features.Windows)
	o.Features.HalfLives = slices.Clone(o.Features.HalfLives)
	if o.MaxExprNodes == 0 {
		o.MaxExprNodes = 256
	}
	if o.ResendInterval < 0 {
		o.ResendInterval = 0
	}
	return o
}

// FeatureConfig is the feature-engine config of the metric: base with the
// metric's lateness (when set) and counter semantics for counters.
func (m Metric) FeatureConfig(base features.Config) features.Config {
	c := base
	c.Windows = slices.Clone(base.Windows)
	c.HalfLives = slices.Clone(base.HalfLives)
	if m.Lateness > 0 {
		c.Lateness = m.Lateness
	}
	c.Counter = m.Kind == Counter
	return c
}

// RuleID identifies a rule by its definition: group, alert name, expr, clear,
// for, keep_firing_for and labels. A reload keeps the state of rules whose ID
// did not change. Annotations and tenants are not part of it, so editing a
// summary does not reset pending alerts.
type RuleID uint64

// String is the ID as 16 hex digits.
func (id RuleID) String() string {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(id))
	return hex.EncodeToString(b[:])
}

// MarshalText encodes the ID as in String.
func (id RuleID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText parses 16 hex digits.
func (id *RuleID) UnmarshalText(b []byte) error {
	if len(b) != 16 {
		return fmt.Errorf("rule id %q: want 16 hex digits", b)
	}
	var raw [8]byte
	if _, err := hex.Decode(raw[:], b); err != nil {
		return fmt.Errorf("rule id %q: %w", b, err)
	}
	*id = RuleID(binary.BigEndian.Uint64(raw[:]))
	return nil
}

// Label is a name and value.
type Label struct {
	Name, Value string
}

// Rule is one alerting rule, compiled. It is immutable.
type Rule struct {
	id            RuleID
	name          string
	group         string
	tenants       []string
	file          string
	line          int
	expr          string
	clear         string
	forDur        time.Duration
	keepFiringFor time.Duration
	resend        time.Duration
	flapping      Flapping
	shadow        bool    // mode: shadow; not part of the ID
	labels        []Label // sorted by name, severity included
	severity      string
	annotations   []*annotation
	ident         *Identity // group, name and labels, shared with the rule's states

	features  []FeatureRef
	exprProg  *program
	clearProg *program // nil without clear
	valueProg *program // nil when the value is a feature or 0
	valueRef  int      // feature index of the value, or -1
	// exprCmp and clearCmp are the comparisons of expr and clear that
	// explanations report (nil: none).
	exprCmp, clearCmp *comparison
	noData            []noDataCond
	usesMetric        []string // nil: evaluated on every sample (see compileRule)
	vms               *sync.Pool
	// table is the rule set's table of every feature its rules read, and
	// tableIdx the index there of each of this rule's features, so that an
	// Advance reads a feature shared by several rules once.
	table    []FeatureRef
	tableSel [][]Label // the selector of each feature of table, parsed
	tableIdx []int
	// seriesRefs are the features of table whose series r is evaluated
	// for: one per distinct metric and selector, seconds_since_last()
	// aside.
	seriesRefs []int
}

// ID is the rule's identity (see RuleID).
func (r *Rule) ID() RuleID { return r.id }

// Name is the alert name.
func (r *Rule) Name() string { return r.name }

// Group is the name of the rule's group.
func (r *Rule) Group() string { return r.group }

// Position is the file and line where the rule is defined.
func (r *Rule) Position() (file string, line int) { return r.file, r.line }

// Expr is the condition's source text.
func (r *Rule) Expr() string { return r.expr }

// Clear is the hysteresis condition's source text, "" when none.
func (r *Rule) Clear() string { return r.clear }

// For is how long the condition must hold before the alert fires.
func (r *Rule) For() time.Duration { return r.forDur }

// KeepFiringFor is how long a firing alert stays firing once it could resolve.
func (r *Rule) KeepFiringFor() time.Duration { return r.keepFiringFor }

// Shadow reports whether the rule runs in shadow mode (mode: shadow): it
// is evaluated like any other and its transitions are marked Shadow, so that
// they are stored and streamed but never sent to receivers. The mode is not
// part of the rule's ID: promoting a rule to live keeps its state.
func (r *Rule) Shadow() bool { return r.shadow }

// ResendInterval is the reminder interval of firing alerts, 0 for none.
func (r *Rule) ResendInterval() time.Duration { return r.resend }

// Severity is the value of the severity label.
func (r *Rule) Severity() string { return r.severity }

// Labels returns a copy of the rule's labels, severity included, sorted by name.
func (r *Rule) Labels() []Label { return slices.Clone(r.labels) }

// Annotations returns the annotation templates' sources by name.
func (r *Rule) Annotations() map[string]string {
	out := make(map[string]string, len(r.annotations))
	for _, a := range r.annotations {
		out[a.name] = a.src
	}
	return out
}

// Features returns the features the rule reads, in the order of
// Result.Values.
func (r *Rule) Features() []FeatureRef { return slices.Clone(r.features) }

// NoData reports whether the rule reads seconds_since_last, i.e. handles
// missing data explicitly.
func (r *Rule) NoData() bool { return len(r.noData) > 0 }

// EvaluatedFor reports whether the rule is evaluated for the series of
// metric with tags: it reads metric with a selector tags match.
func (r *Rule) EvaluatedFor(metric string, tags []Label) bool {
	for _, g := range r.seriesRefs {
		if r.table[g].Metric == metric && matches(tags, r.tableSel[g]) {
			return true
		}
	}
	return false
}

// NoDataWait is how long after the newest sample of a series of metric a
// seconds_since_last comparison of the rule on that series may still flip
// (its largest threshold), and whether the rule has one: until then the
// silence of the series is something the rule still has to judge.
func (r *Rule) NoDataWait(metric string) (time.Duration, bool) {
	var wait time.Duration
	has := false
	for _, c := range r.noData {
		if r.features[c.ref].Metric != metric || math.IsNaN(c.threshold) {
			continue
		}
		has = true
		if s := min(math.Max(c.threshold, 0), 1e9); time.Duration(s*float64(time.Second)) > wait {
			wait = time.Duration(s * float64(time.Second))
		}
	}
	return wait, has
}

// AppliesTo reports whether the rule's group is scoped to tenant (a group
// without tenants applies to all).
func (r *Rule) AppliesTo(tenant string) bool {
	return r.tenants == nil || slices.Contains(r.tenants, tenant)
}

// UsesMetric reports whether a new sample of metric can change the rule's
// result: the rule reads the metric, reads seconds_since_last() of any metric,
// or reads no feature at all.
func (r *Rule) UsesMetric(metric string) bool {
	return r.usesMetric == nil || slices.Contains(r.usesMetric, metric)
}

// RuleSet is a validated, compiled set of rule files. It is immutable and safe
// for concurrent use.
type RuleSet struct {
	files   []string
	metrics []Metric
	byName  map[string]int
	rules   []*Rule
	byID    map[RuleID]*Rule
	byAlert map[alertKey]*Rule
	opts    Options
	table   []FeatureRef // every feature the rules read (Rule.tableIdx)
	// retired are rules of the sets this one replaced that it does not
	// have, by ID (see Replacing); retiredIDs lists them, most recently
	// retired first.
	retired    map[RuleID]*Rule
	retiredIDs []RuleID
	// fingerprint identifies the rules in force (see Fingerprint).
	fingerprint uint64
	// reads are the metrics some rule names (see Reads).
	reads map[string]bool
}

// Reads reports whether a rule of the set names metric in a feature.
func (rs *RuleSet) Reads(metric string) bool { return rs.reads[metric] }

// Fingerprint identifies the rules of the set and the tenants each applies
// to: two sets of the same rules have the same one, whatever their order or
// files. A source evaluated under a set of another fingerprint has rules
// to catch up on (new ones, and the alerts of changed or removed ones to
// end).
func (rs *RuleSet) Fingerprint() uint64 { return rs.fingerprint }

func (rs *RuleSet) computeFingerprint() uint64 {
	keys := make([]string, len(rs.rules))
	for i, r := range rs.rules {
		keys[i] = r.id.String() + "\x00" + strings.Join(r.tenants, "\x00")
		if r.tenants == nil {
			keys[i] += "\x01all"
		}
	}
	slices.Sort(keys)
	h := sha256.New()
	for _, k := range keys {
		h.Write([]byte(k))
		h.Write([]byte{0xff})
	}
	return binary.BigEndian.Uint64(h.Sum(nil))
}

// alertKey names a rule within a set: its group and alert name.
type alertKey struct{ group, name string }

// maxRetired bounds the retired rules a set keeps.
const maxRetired = 512

// Replacing returns rs as the successor of prev, the set it replaces in
// force: the same rules, and, kept aside by ID, the rules of prev and those
// prev kept aside that rs does not have, at most maxRetired (512), the most
// recently retired first. Advance ends the alerts of a retired rule with
// its name, labels and annotations, however many reloads later their
// source is evaluated; an alert whose rule is not kept (too many retired,
// or a process restarted with other rules) ends with what its state holds
// (see Identity). Reloads put the result in force; rs is not modified.
func (rs *RuleSet) Replacing(prev *RuleSet) *RuleSet {
	next := *rs
	next.retired, next.retiredIDs = map[RuleID]*Rule{}, nil
	keep := func(r *Rule) {
		if len(next.retiredIDs) < maxRetired && rs.byID[r.id] == nil && next.retired[r.id] == nil {
			next.retired[r.id] = r
			next.retiredIDs = append(next.retiredIDs, r.id)
		}
	}
	for _, r := range prev.rules {
		keep(r)
	}
	for _, id := range prev.retiredIDs {
		keep(prev.retired[id])
	}
	return &next
}

// Files are the names of the files the set was loaded from.
func (rs *RuleSet) Files() []string { return slices.Clone(rs.files) }

// Options are the options the set was loaded with, defaults filled.
func (rs *RuleSet) Options() Options {
	o := rs.opts
	o.Features.Windows = slices.Clone(o.Features.Windows)
	o.Features.HalfLives = slices.Clone(o.Features.HalfLives)
	return o
}

// Metrics returns the metric catalog, in file order.
func (rs *RuleSet) Metrics() []Metric { return slices.Clone(rs.metrics) }

// FeatureConfig is the feature-engine config of a metric of the catalog: the
// options' base config with the metric's lateness and kind.
func (rs *RuleSet) FeatureConfig(metric string) (features.Config, bool) {
	m, ok := rs.Metric(metric)
	if !ok {
		return features.Config{}, false
	}
	return m.FeatureConfig(rs.opts.Features), true
}

// MetricConfig is the feature-engine config of any metric: its catalog
// entry's, or for a metric the catalog does not declare, the options' base
// config with the kind its name implies (KindOf).
func (rs *RuleSet) MetricConfig(metric string) features.Config {
	if c, ok := rs.FeatureConfig(metric); ok {
		return c
	}
	return Metric{Name: metric, Kind: KindOf(metric)}.FeatureConfig(rs.opts.Features)
}

// Metric looks a metric of the catalog up by name.
func (rs *RuleSet) Metric(name string) (Metric, bool) {
	i, ok := rs.byName[name]
	if !ok {
		return Metric{}, false
	}
	return rs.metrics[i], true
}

// Len is the number of rules.
func (rs *RuleSet) Len() int { return len(rs.rules) }

// Rules iterates over all rules in file order.
func (rs *RuleSet) Rules() iter.Seq[*Rule] { return slices.Values(rs.rules) }

// RulesFor iterates over the rules that apply to tenant, in file order.
func (rs *RuleSet) RulesFor(tenant string) iter.Seq[*Rule] {
	return func(yield func(*Rule) bool) {
		for _, r := range rs.rules {
			if r.AppliesTo(tenant) && !yield(r) {
				return
			}
		}
	}
}

// Rule looks a rule up by ID; nil when the set has no such rule.
func (rs *RuleSet) Rule(id RuleID) *Rule { return rs.byID[id] }

// LoadFiles reads and checks rule files as one set. Every problem of every
// file is reported at once as Errors. Nothing is returned unless all files
// are valid, so a bad file never half-applies.
func LoadFiles(opts Options, paths ...string) (*RuleSet, error) {
	srcs := make([]source, 0, len(paths))
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("load rules: %w", err)
		}
		srcs = append(srcs, source{name: p, data: data})
	}
	return build(srcs, opts)
}

// Parse checks one rule file given as bytes; name is used in messages.
func Parse(name string, data []byte, opts Options) (*RuleSet, error) {
	return build([]source{{name: name, data: data}}, opts)
}

type source struct {
	name string
	data []byte
}

// build parses every file, then checks the metric catalog, groups and rules
// across them.
func build(srcs []source, opts Options) (*RuleSet, error) {
	opts = opts.withDefaults()
	var errs Errors
	files := make([]rawFile, 0, len(srcs))
	names := make([]string, 0, len(srcs))
	for _, s := range srcs {
		names = append(names, s.name)
		p := &fileParser{file: s.name, errs: &errs}
		root := parseYAML(s.name, s.data, &errs)
		f := p.parseFile(root)
		if p.overBudget() {
			errs = append(errs, Error{File: s.name, Line: 1, Msg: fmt.Sprintf("file too large: more than %d YAML nodes (after alias expansion)", maxYAMLNodes)})
		}
		files = append(files, f)
	}

	rs := &RuleSet{files: names, byName: map[string]int{}, byID: map[RuleID]*Rule{}, byAlert: map[alertKey]*Rule{}, opts: opts}
	type position struct {
		file string
		line int
	}
	metricAt := map[string]position{}
	for _, f := range files {
		for _, m := range f.metrics {
			if i, dup := rs.byName[m.name]; dup {
				first := metricAt[m.name]
				switch prev := rs.metrics[i]; {
				case first.file == f.name:
					errs = append(errs, Error{File: f.name, Line: m.line, Msg: fmt.Sprintf("metric %q: duplicate (first at line %d)", m.name, first.line)})
				case prev.Kind != m.kind || prev.Unit != m.unit || prev.Lateness != m.lateness:
					errs = append(errs, Error{File: f.name, Line: m.line, Msg: fmt.Sprintf("metric %q: defined differently at %s:%d", m.name, first.file, first.line)})
				}
				continue
			}
			rs.byName[m.name] = len(rs.metrics)
			metricAt[m.name] = position{f.name, m.line}
			metric := Metric{Name: m.name, Kind: m.kind, Unit: m.unit, Lateness: m.lateness}
			rs.metrics = append(rs.metrics, metric)
			if smallest := slices.Min(opts.Features.Windows); m.lateness > smallest {
				errs = append(errs, Error{File: f.name, Line: m.latenessLine, Msg: fmt.Sprintf("metric %q: lateness %s exceeds the smallest window %s", m.name, FormatDuration(m.lateness), FormatDuration(smallest))})
			} else if err := metric.FeatureConfig(opts.Features).Validate(); err != nil {
				errs = append(errs, Error{File: f.name, Line: m.latenessLine, Msg: fmt.Sprintf("metric %q: %s", m.name, featuresError(err))})
			}
		}
	}

	vms := &sync.Pool{New: func() any { return new(machine) }}
	groupAt := map[string]position{}
	for _, f := range files {
		for _, g := range f.groups {
			if prev, dup := groupAt[g.name]; dup {
				at := prev.file + ":" + strconv.Itoa(prev.line)
				if prev.file == f.name {
					at = "line " + strconv.Itoa(prev.line)
				}
				errs = append(errs, Error{File: f.name, Line: g.line, Msg: fmt.Sprintf("group %q: duplicate (first at %s)", g.name, at)})
				continue
			}
			groupAt[g.name] = position{f.name, g.line}
			var tenants []string
			if g.hasTenants {
				tenants = slices.Clip(slices.Compact(slices.Sorted(slices.Values(g.tenants))))
				if len(tenants) == 0 {
					errs = append(errs, Error{File: f.name, Line: g.line, Msg: fmt.Sprintf("group %q: tenants is empty; remove it to apply the group to all tenants", g.name)})
					continue
				}
			}
			alertAt := map[string]int{}
			for _, raw := range g.rules {
				if first, dup := alertAt[raw.alert.value]; dup {
					errs = append(errs, Error{File: f.name, Line: raw.line, Msg: fmt.Sprintf("alert %q: duplicate in group %q (first at line %d)", raw.alert.value, g.name, first)})
					continue
				}
				alertAt[raw.alert.value] = raw.line
				r, rerrs := rs.compileRule(f.name, g.name, tenants, raw)
				errs = append(errs, rerrs...)
				if r == nil {
					continue
				}
				r.vms = vms
				if other, dup := rs.byID[r.id]; dup {
					errs = append(errs, Error{File: f.name, Line: raw.line, Msg: fmt.Sprintf("alert %q: same definition as %s:%d", r.name, other.file, other.line)})
					continue
				}
				rs.byID[r.id] = r
				rs.byAlert[alertKey{r.group, r.name}] = r
				rs.rules = append(rs.rules, r)
			}
		}
	}
	if len(errs) > 0 {
		errs = sortErrors(errs, names)
		return nil, errs
	}
	index := map[FeatureRef]int{}
	for _, r := range rs.rules {
		r.tableIdx = make([]int, len(r.features))
		for i, f := range r.features {
			g, ok := index[f]
			if !ok {
				g = len(rs.table)
				index[f] = g
				rs.table = append(rs.table, f)
			}
			r.tableIdx[i] = g
		}
	}
	rs.reads = map[string]bool{}
	tableSel := make([][]Label, len(rs.table))
	for g, f := range rs.table {
		if f.Metric != "" {
			rs.reads[f.Metric] = true
		}
		if f.Selector != "" {
			_, tableSel[g], _ = ParseSeries(f.Metric + "{" + f.Selector + "}")
		}
	}
	for _, r := range rs.rules {
		r.table, r.tableSel = rs.table, tableSel
		for _, g := range r.tableIdx {
			f := rs.table[g]
			if f.Metric != "" && !slices.ContainsFunc(r.seriesRefs, func(h int) bool {
				return rs.table[h].Metric == f.Metric && rs.table[h].Selector == f.Selector
			}) {
				r.seriesRefs = append(r.seriesRefs, g)
			}
		}
	}
	rs.fingerprint = rs.computeFingerprint()
	return rs, nil
}

// compileRule checks one rule and compiles its expressions and templates.
// templateError rewrites a template error as the user wrote the template:
// without the variable header the package prepends, whose length shifts the
// columns of line 1, and without internal type names.
func templateError(err error) string {
	msg := strings.ReplaceAll(err.Error(), templateHeader, "")
	msg = strings.ReplaceAll(msg, " in type *rules.templateData", "")
	if m := templateColRE.FindStringSubmatchIndex(msg); m != nil {
		col, _ := strconv.Atoi(msg[m[2]:m[3]])
		msg = msg[:m[2]] + strconv.Itoa(max(col-len(templateHeader), 1)) + msg[m[3]:]
	}
	return msg
}

var templateColRE = regexp.MustCompile(`^template: [^:]*:1:(\d+):`)

// featuresError strips the features package's prefix and sentinel suffix
// from a config error, leaving what is wrong.
func featuresError(err error) string {
	msg := strings.TrimPrefix(err.Error(), "features: ")
	return strings.TrimSuffix(msg, ": "+features.ErrInvalidConfig.Error())
}

func (rs *RuleSet) compileRule(file, group string, tenants []string, raw rawRule) (*Rule, Errors) {
	var errs Errors
	what := "alert " + strconv.Quote(raw.alert.value)
	errorf := func(line int, format string, args ...any) {
		errs = append(errs, Error{File: file, Line: line, Msg: what + ": " + fmt.Sprintf(format, args...)})
	}
	r := &Rule{
		name:          raw.alert.value,
		group:         group,
		tenants:       tenants,
		file:          file,
		line:          raw.line,
		expr:          strings.TrimSpace(raw.expr.value),
		clear:         strings.TrimSpace(raw.clear.value),
		forDur:        raw.forDur,
		keepFiringFor: raw.keepFiringFor,
		resend:        rs.opts.ResendInterval,
		flapping:      raw.flapping,
		shadow:        raw.shadow,
		valueRef:      -1,
	}

	// Labels: names checked, reserved ones refused, severity defaulted.
	seen := map[string]bool{}
	for _, l := range raw.labels {
		switch {
		case !labelNameRE.MatchString(l.key):
			errorf(l.keyLine, "label name %q must match %s", l.key, labelNameRE)
		case l.key == LabelAlertName || l.key == LabelTenant || l.key == LabelHost:
			errorf(l.keyLine, "label %q is reserved: it is set on every alert", l.key)
		case l.key == LabelSeverity && l.value.value != SeverityCritical && l.value.value != SeverityWarning && l.value.value != SeverityInfo:
			errorf(l.value.line, "unknown severity %q (allowed: critical, warning, info)", l.value.value)
		case strings.HasPrefix(l.key, "__"):
			errorf(l.keyLine, "label name %q is reserved (starts with __)", l.key)
		default:
			seen[l.key] = true
			r.labels = append(r.labels, Label{Name: l.key, Value: l.value.value})
		}
	}
	if !seen[LabelSeverity] {
		r.labels = append(r.labels, Label{Name: LabelSeverity, Value: DefaultSeverity})
	}
	sort.Slice(r.labels, func(i, j int) bool { return r.labels[i].Name < r.labels[j].Name })
	for _, l := range r.labels {
		if l.Name == LabelSeverity {
			r.severity = l.Value
		}
	}
	r.ident = &Identity{Group: r.group, Name: r.name, Labels: r.labels}

	// Expressions.
	c := &exprCompiler{
		metrics:   map[string]Metric{},
		windows:   rs.opts.Features.Windows,
		halfLives: rs.opts.Features.HalfLives,
		maxNodes:  rs.opts.MaxExprNodes,
		refIdx:    map[FeatureRef]int{},
	}
	for _, m := range rs.metrics {
		c.metrics[m.Name] = m
	}
	exprErr := func(field string, s rawScalar, ee []exprError) {
		for _, e := range ee {
			line := s.line
			if s.style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
				line += e.line // block scalars start on the next line
			}
			errorf(line, "%s: %s", field, e.msg)
		}
	}
	var valueSrc string
	switch {
	case !raw.expr.set || r.expr == "":
		errorf(raw.line, "missing expr")
	default:
		p, vs, ee := c.compile(r.expr, false)
		exprErr("expr", raw.expr, ee)
		r.exprProg, valueSrc = p, vs
	}
	if raw.clear.set {
		if r.clear == "" {
			errorf(raw.clear.line, "clear is empty; remove it to resolve when expr is false")
		} else {
			p, _, ee := c.compile(r.clear, false)
			exprErr("clear", raw.clear, ee)
			r.clearProg = p
		}
	}
	if r.exprProg != nil && valueSrc != "" {
		p, ee := c.compileValue(valueSrc)
		if len(ee) > 0 {
			// The value expression is derived from expr, which compiled: a
			// failure here is a bug of valueSource, not of the user.
			errorf(raw.expr.line, "expr: cannot derive the alert value from %q: %s", valueSrc, ee[0].msg)
		}
		if p != nil {
			r.valueProg = p
			if p.single >= 0 {
				r.valueProg, r.valueRef = nil, p.single
			}
		}
	} else if r.exprProg != nil && len(r.exprProg.refs) > 0 {
		r.valueRef = r.exprProg.refs[0]
	}
	if r.exprProg != nil {
		r.exprCmp = c.compileComparison(r.expr)
	}
	if r.clearProg != nil {
		r.clearCmp = c.compileComparison(r.clear)
	}
	r.features = c.refs
	r.noData = c.noData
	// A rule reading no metric in particular (seconds_since_last(), or no
	// feature at all, like a watchdog "true") is evaluated on every sample.
	if len(r.features) > 0 {
		r.usesMetric = []string{}
	}
	for _, f := range r.features {
		if f.Metric == "" {
			r.usesMetric = nil
			break
		}
		if !slices.Contains(r.usesMetric, f.Metric) {
			r.usesMetric = append(r.usesMetric, f.Metric)
		}
	}

	if raw.forDur < 0 || raw.keepFiringFor < 0 {
		errorf(raw.line, "durations must not be negative")
	}

	// Annotations, checked by a trial rendering on sample data.
	sample := &templateData{
		Labels:   r.ident.labelMap("tenant", "host", nil),
		Meta:     Meta{}.templateValue(),
		Features: map[string]float64{},
	}
	for _, f := range r.features {
		sample.Features[f.String()] = 0
	}
	for _, a := range raw.annotations {
		if !labelNameRE.MatchString(a.key) {
			errorf(a.keyLine, "annotation name %q must match %s", a.key, labelNameRE)
			continue
		}
		t, err := parseAnnotation(a.key, a.value.value)
		if err == nil && !rs.opts.SkipAnnotations {
			err = t.tmpl.Execute(&limitedBuffer{max: maxAnnotationBytes}, sample)
		}
		if err != nil {
			errorf(a.value.line, "annotation %q: %s", a.key, templateError(err))
			continue
		}
		if !rs.opts.SkipAnnotations {
			r.annotations = append(r.annotations, t)
		}
	}

	if len(errs) > 0 {
		return nil, errs
	}
	r.id = r.computeID()
	return r, nil
}

// computeID hashes the definition; each field is length-prefixed so that no
// two definitions encode alike. Whitespace runs in expressions are collapsed so
// that reformatting a rule keeps its state.
func (r *Rule) computeID() RuleID {
	h := sha256.New()
	var n [8]byte
	put := func(s string) {
		binary.BigEndian.PutUint64(n[:], uint64(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	put("eventops.rule.v1")
	put(r.group)
	put(r.name)
	put(strings.Join(strings.Fields(r.expr), " "))
	put(strings.Join(strings.Fields(r.clear), " "))
	put(strconv.FormatInt(int64(r.forDur), 10))
	put(strconv.FormatInt(int64(r.keepFiringFor), 10))
	for _, l := range r.labels {
		put(l.Name)
		put(l.Value)
	}
	return RuleID(binary.BigEndian.Uint64(h.Sum(nil)))
}

// annotationNames lists annotation names in definition order (for tests).
func (r *Rule) annotationNames() []string {
	out := make([]string, len(r.annotations))
	for i, a := range r.annotations {
		out[i] = a.name
	}
	return out
}
