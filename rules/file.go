package rules

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// The raw* types are a rule file as written, with the line of every part, before
// the cross-file checks (metric catalog, expressions, templates) of build.

type rawFile struct {
	name    string
	metrics []rawMetric
	groups  []rawGroup
}

type rawMetric struct {
	line         int
	latenessLine int // the lateness key's line, else the metric's
	name         string
	kind         MetricKind
	unit         string
	lateness     time.Duration
}

type rawGroup struct {
	line       int
	name       string
	tenants    []string
	hasTenants bool
	rules      []rawRule
}

type rawScalar struct {
	line  int
	value string
	style yaml.Style
	set   bool
}

type rawPair struct {
	keyLine int
	key     string
	value   rawScalar
}

type rawRule struct {
	line          int
	alert         rawScalar
	expr          rawScalar
	clear         rawScalar
	forDur        time.Duration
	keepFiringFor time.Duration
	labels        []rawPair
	annotations   []rawPair
	flapping      Flapping
	shadow        bool
}

// maxYAMLNodes bounds the nodes visited in one file, alias expansions included,
// so that a small file of nested aliases cannot make loading explode.
const maxYAMLNodes = 200_000

var (
	labelNameRE = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
	yamlLineRE  = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)
)

// fileParser reads one YAML rule file into a rawFile, recording every problem
// with its line instead of stopping at the first.
type fileParser struct {
	file  string
	errs  *Errors
	nodes int
}

func (p *fileParser) errorf(line int, format string, args ...any) {
	*p.errs = append(*p.errs, Error{File: p.file, Line: line, Msg: fmt.Sprintf(format, args...)})
}

// parseYAML decodes data into a document node, turning yaml.v3 errors into
// positioned errors. It returns nil for an empty document.
func parseYAML(file string, data []byte, errs *Errors) (root *yaml.Node) {
	defer func() {
		// yaml.v3 has panicked on hostile input before; a rule file is input.
		if r := recover(); r != nil {
			*errs = append(*errs, Error{File: file, Line: 1, Msg: fmt.Sprintf("invalid YAML: %v", r)})
			root = nil
		}
	}()
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		for _, msg := range yamlErrorLines(err) {
			line := 1
			if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
				line, _ = strconv.Atoi(m[1])
				msg = m[2]
			} else {
				msg = strings.TrimPrefix(msg, "yaml: ")
			}
			*errs = append(*errs, Error{File: file, Line: line, Msg: "invalid YAML: " + msg})
		}
		return nil
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil
	}
	return doc.Content[0]
}

func yamlErrorLines(err error) []string {
	if te, ok := err.(*yaml.TypeError); ok {
		return te.Errors
	}
	return []string{err.Error()}
}

// resolve follows aliases and counts visited nodes against the budget.
func (p *fileParser) resolve(n *yaml.Node) *yaml.Node {
	for depth := 0; n != nil && n.Kind == yaml.AliasNode; depth++ {
		if depth > 100 {
			return nil
		}
		n = n.Alias
	}
	p.nodes++
	return n
}

func (p *fileParser) overBudget() bool {
	return p.nodes > maxYAMLNodes
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "null"
		}
		return "a scalar"
	}
	return "nothing"
}

// mapping calls fn for each key of a mapping node, reporting duplicate keys
// and a node that is not a mapping.
func (p *fileParser) mapping(n *yaml.Node, what string, fn func(key string, k, v *yaml.Node)) bool {
	n = p.resolve(n)
	if n == nil || p.overBudget() {
		return false
	}
	if n.Kind != yaml.MappingNode {
		p.errorf(n.Line, "%s must be a mapping, not %s", what, kindName(n))
		return false
	}
	seen := make(map[string]int, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := p.resolve(n.Content[i]), p.resolve(n.Content[i+1])
		if k == nil || v == nil || p.overBudget() {
			return false
		}
		if k.Kind != yaml.ScalarNode {
			p.errorf(k.Line, "%s: keys must be scalars", what)
			continue
		}
		if k.Value == "<<" && k.Tag == "!!merge" {
			p.errorf(k.Line, "%s: merge keys (<<) are not supported", what)
			continue
		}
		if first, dup := seen[k.Value]; dup {
			p.errorf(k.Line, "%s: duplicate key %q (first at line %d)", what, k.Value, first)
			continue
		}
		seen[k.Value] = k.Line
		fn(k.Value, k, v)
	}
	return true
}

// sequence calls fn for each item of a list node; null is an empty list.
func (p *fileParser) sequence(n *yaml.Node, what string, fn func(item *yaml.Node)) {
	n = p.resolve(n)
	if n == nil || p.overBudget() || isNull(n) {
		return
	}
	if n.Kind != yaml.SequenceNode {
		p.errorf(n.Line, "%s must be a list, not %s", what, kindName(n))
		return
	}
	for _, item := range n.Content {
		item = p.resolve(item)
		if item == nil || p.overBudget() {
			return
		}
		fn(item)
	}
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

// scalar reads a scalar value; null reads as "".
func (p *fileParser) scalar(n *yaml.Node, what string) (rawScalar, bool) {
	if n.Kind != yaml.ScalarNode {
		p.errorf(n.Line, "%s must be a scalar, not %s", what, kindName(n))
		return rawScalar{line: n.Line}, false
	}
	s := rawScalar{line: n.Line, value: n.Value, style: n.Style, set: true}
	if isNull(n) {
		s.value = ""
	}
	return s, true
}

func (p *fileParser) duration(n *yaml.Node, what string) time.Duration {
	s, ok := p.scalar(n, what)
	if !ok {
		return 0
	}
	d, err := ParseDuration(s.value)
	if err != nil {
		p.errorf(n.Line, "%s: bad duration %q: %v", what, s.value, err)
		return 0
	}
	return d
}

func (p *fileParser) pairs(n *yaml.Node, what string) []rawPair {
	var out []rawPair
	if isNull(n) {
		return nil
	}
	p.mapping(n, what, func(key string, k, v *yaml.Node) {
		s, ok := p.scalar(v, what+" "+strconv.Quote(key))
		if !ok {
			return
		}
		out = append(out, rawPair{keyLine: k.Line, key: key, value: s})
	})
	return out
}

// parseFile reads the top level of a rule file: metrics and groups.
func (p *fileParser) parseFile(root *yaml.Node) rawFile {
	f := rawFile{name: p.file}
	if root == nil || isNull(root) {
		return f
	}
	p.mapping(root, "rule file", func(key string, k, v *yaml.Node) {
		switch key {
		case "metrics":
			p.sequence(v, "metrics", func(item *yaml.Node) {
				if m, ok := p.parseMetric(item); ok {
					f.metrics = append(f.metrics, m)
				}
			})
		case "groups":
			p.sequence(v, "groups", func(item *yaml.Node) {
				if g, ok := p.parseGroup(item); ok {
					f.groups = append(f.groups, g)
				}
			})
		default:
			p.errorf(k.Line, "unknown key %q in rule file (allowed: metrics, groups)", key)
		}
	})
	return f
}

func (p *fileParser) parseMetric(n *yaml.Node) (rawMetric, bool) {
	m := rawMetric{line: n.Line, latenessLine: n.Line}
	var kind rawScalar
	ok := p.mapping(n, "metric", func(key string, k, v *yaml.Node) {
		switch key {
		case "name":
			s, _ := p.scalar(v, "metric name")
			m.name = s.value
		case "kind":
			kind, _ = p.scalar(v, "metric kind")
		case "unit":
			s, _ := p.scalar(v, "metric unit")
			m.unit = s.value
		case "lateness":
			m.latenessLine = v.Line
			m.lateness = p.duration(v, "lateness")
		default:
			p.errorf(k.Line, "unknown key %q in metric (allowed: name, kind, unit, lateness)", key)
		}
	})
	if !ok {
		return m, false
	}
	switch {
	case m.name == "":
		p.errorf(n.Line, "metric: missing name")
		return m, false
	case strings.ContainsAny(m.name, " \t\r\n\"") || len(m.name) > 200:
		p.errorf(n.Line, "metric %q: name must be at most 200 characters, without spaces or quotes", m.name)
	}
	switch kind.value {
	case "":
		m.kind = KindOf(m.name)
	case "gauge":
		m.kind = Gauge
	case "counter":
		m.kind = Counter
	default:
		p.errorf(kind.line, "metric %q: unknown kind %q (allowed: gauge, counter)", m.name, kind.value)
	}
	return m, true
}

func (p *fileParser) parseGroup(n *yaml.Node) (rawGroup, bool) {
	g := rawGroup{line: n.Line}
	var rulesNode *yaml.Node
	ok := p.mapping(n, "group", func(key string, k, v *yaml.Node) {
		switch key {
		case "name":
			s, _ := p.scalar(v, "group name")
			g.name = s.value
		case "tenants":
			g.hasTenants = true
			p.sequence(v, "tenants", func(item *yaml.Node) {
				if s, ok := p.scalar(item, "tenant"); ok {
					if s.value == "" {
						p.errorf(item.Line, "tenant must not be empty")
						return
					}
					g.tenants = append(g.tenants, s.value)
				}
			})
		case "rules":
			rulesNode = v
		default:
			p.errorf(k.Line, "unknown key %q in group (allowed: name, tenants, rules)", key)
		}
	})
	if !ok {
		return g, false
	}
	if g.name == "" {
		p.errorf(n.Line, "group: missing name")
	}
	if rulesNode != nil {
		p.sequence(rulesNode, "rules", func(item *yaml.Node) {
			if r, ok := p.parseRule(item, g.name); ok {
				g.rules = append(g.rules, r)
			}
		})
	}
	return g, g.name != ""
}

func (p *fileParser) parseRule(n *yaml.Node, group string) (rawRule, bool) {
	r := rawRule{line: n.Line}
	// The alert name prefixes every message, so read it first.
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if k := n.Content[i]; k.Kind == yaml.ScalarNode && k.Value == "alert" {
				if v := p.resolve(n.Content[i+1]); v != nil && v.Kind == yaml.ScalarNode {
					r.alert = rawScalar{line: v.Line, value: v.Value, set: true}
				}
			}
		}
	}
	what := "alert " + strconv.Quote(r.alert.value)
	recording := false
	ok := p.mapping(n, "rule", func(key string, k, v *yaml.Node) {
		switch key {
		case "alert":
			p.scalar(v, what+": alert")
		case "expr":
			r.expr, _ = p.scalar(v, what+": expr")
		case "clear":
			r.clear, _ = p.scalar(v, what+": clear")
		case "for":
			r.forDur = p.duration(v, what+": for")
		case "keep_firing_for":
			r.keepFiringFor = p.duration(v, what+": keep_firing_for")
		case "labels":
			r.labels = p.pairs(v, what+": labels")
		case "annotations":
			r.annotations = p.pairs(v, what+": annotations")
		case "flapping":
			r.flapping = p.parseFlapping(v, what)
		case "mode":
			r.shadow = p.parseMode(v, what)
		case "record":
			recording = true
			p.errorf(k.Line, "recording rules (record:) are not supported; features are computed by the feature engine")
		default:
			p.errorf(k.Line, "%s: unknown key %q in rule (allowed: alert, expr, clear, for, keep_firing_for, labels, annotations, flapping, mode)", what, key)
		}
	})
	if !ok {
		return r, false
	}
	if !r.alert.set || r.alert.value == "" {
		if !recording {
			p.errorf(n.Line, "rule in group %q: missing alert name", group)
		}
		return r, false
	}
	if !labelNameRE.MatchString(r.alert.value) {
		p.errorf(r.alert.line, "%s: alert name must match %s", what, labelNameRE)
	}
	return r, true
}

// Modes of a rule, its mode key.
const (
	ModeLive   = "live"   // the default: transitions go to receivers
	ModeShadow = "shadow" // evaluated and stored, never sent to receivers
)

// parseMode reads a rule's mode: live (the default) or shadow.
func (p *fileParser) parseMode(n *yaml.Node, what string) bool {
	s, ok := p.scalar(n, what+": mode")
	if !ok {
		return false
	}
	switch s.value {
	case ModeLive:
		return false
	case ModeShadow:
		return true
	}
	p.errorf(s.line, "%s: unknown mode %q (allowed: %s, %s)", what, s.value, ModeLive, ModeShadow)
	return false
}
