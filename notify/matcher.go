package notify

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// MatchType is the operator of a label matcher.
type MatchType int

// The four operators of Alertmanager matchers.
const (
	MatchEqual     MatchType = iota // =
	MatchNotEqual                   // !=
	MatchRegexp                     // =~
	MatchNotRegexp                  // !~
)

func (t MatchType) String() string {
	switch t {
	case MatchEqual:
		return "="
	case MatchNotEqual:
		return "!="
	case MatchRegexp:
		return "=~"
	case MatchNotRegexp:
		return "!~"
	}
	return "?"
}

// Matcher tests one label. A label an alert does not have has the value "".
type Matcher struct {
	Name  string
	Type  MatchType
	Value string
	re    *regexp.Regexp
}

// Limits on matchers, so that a silence or a route stays cheap to apply.
const (
	maxMatcherValue = 1024
	maxLabelName    = 128
)

// NewMatcher builds a matcher; a regular expression is anchored at both ends
// (RE2 syntax, as Alertmanager's).
func NewMatcher(t MatchType, name, value string) (*Matcher, error) {
	if !validLabelName(name) {
		return nil, fmt.Errorf("bad label name %q (letters, digits and _, not starting with a digit, at most %d)", name, maxLabelName)
	}
	if len(value) > maxMatcherValue {
		return nil, fmt.Errorf("value of %s is longer than %d bytes", name, maxMatcherValue)
	}
	m := &Matcher{Name: name, Type: t, Value: value}
	if t == MatchRegexp || t == MatchNotRegexp {
		re, err := regexp.Compile("^(?:" + value + ")$")
		if err != nil {
			return nil, fmt.Errorf("bad regular expression for %s: %w", name, err)
		}
		m.re = re
	}
	return m, nil
}

func validLabelName(s string) bool {
	if s == "" || len(s) > maxLabelName {
		return false
	}
	for i, r := range s {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// Matches tests a label value.
func (m *Matcher) Matches(v string) bool {
	switch m.Type {
	case MatchEqual:
		return v == m.Value
	case MatchNotEqual:
		return v != m.Value
	case MatchRegexp:
		return m.re.MatchString(v)
	case MatchNotRegexp:
		return !m.re.MatchString(v)
	}
	return false
}

// String is the canonical form, name op "value", which ParseMatchers reads.
func (m *Matcher) String() string { return m.Name + m.Type.String() + strconv.Quote(m.Value) }

// Matchers must all match.
type Matchers []*Matcher

// Matches reports whether every matcher matches labels.
func (ms Matchers) Matches(labels map[string]string) bool {
	for _, m := range ms {
		if !m.Matches(labels[m.Name]) {
			return false
		}
	}
	return true
}

// String is {m1, m2}, sorted, as Alertmanager writes a route's key.
func (ms Matchers) String() string {
	s := make([]string, len(ms))
	for i, m := range ms {
		s[i] = m.String()
	}
	sort.Strings(s)
	return "{" + strings.Join(s, ",") + "}"
}

// Strings returns the canonical form of each matcher.
func (ms Matchers) Strings() []string {
	s := make([]string, len(ms))
	for i, m := range ms {
		s[i] = m.String()
	}
	return s
}

// MatchesEverything reports whether the matchers match an alert with no
// labels at all: a silence like that would mute every alert of a tenant.
func (ms Matchers) MatchesEverything() bool { return ms.Matches(nil) }

// probeValues are label values no real alert carries: a matcher that
// accepts them accepts (nearly) any value.
var probeValues = []string{"\x01eventops-probe-7f3a\x02", "Z9_-.:/ \u2603"}

// Narrow reports whether some positive matcher names the values it
// accepts: = with a value, or =~ a pattern that does not accept arbitrary
// values. A silence without one (alertname=~".+", team!="x") would mute
// (nearly) every alert of a tenant.
func (ms Matchers) Narrow() bool {
	for _, m := range ms {
		switch m.Type {
		case MatchEqual:
			if m.Value != "" {
				return true
			}
		case MatchRegexp:
			broad := m.Matches("")
			for _, v := range probeValues {
				broad = broad || m.Matches(v)
			}
			if !broad {
				return true
			}
		}
	}
	return false
}

// MarshalJSON writes the canonical string.
func (m *Matcher) MarshalJSON() ([]byte, error) { return json.Marshal(m.String()) }

// ParseMatchers reads one or more comma-separated matchers in Alertmanager's
// notation, optionally in braces: `severity="critical"`,
// `{team=~"db|infra", env!=dev}`. Values may be quoted (Go escapes) or bare
// (up to the next comma, trimmed).
func ParseMatchers(s string) (Matchers, error) {
	p := matcherParser{s: strings.TrimSpace(s)}
	if strings.HasPrefix(p.s, "{") {
		if !strings.HasSuffix(p.s, "}") {
			return nil, fmt.Errorf("matchers %q: missing closing brace", s)
		}
		p.s = p.s[1 : len(p.s)-1]
	}
	var out Matchers
	for {
		p.space()
		if p.i == len(p.s) {
			break
		}
		m, err := p.matcher()
		if err != nil {
			return nil, fmt.Errorf("matchers %q: %w", s, err)
		}
		out = append(out, m)
		p.space()
		if p.i == len(p.s) {
			break
		}
		if p.s[p.i] != ',' {
			return nil, fmt.Errorf("matchers %q: expected a comma at offset %d", s, p.i)
		}
		p.i++
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("matchers %q: no matcher", s)
	}
	return out, nil
}

type matcherParser struct {
	s string
	i int
}

func (p *matcherParser) space() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t') {
		p.i++
	}
}

func (p *matcherParser) matcher() (*Matcher, error) {
	start := p.i
	for p.i < len(p.s) {
		c := p.s[p.i]
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			break
		}
		p.i++
	}
	name := p.s[start:p.i]
	if name == "" {
		return nil, fmt.Errorf("expected a label name at offset %d", start)
	}
	p.space()
	var t MatchType
	switch rest := p.s[p.i:]; {
	case strings.HasPrefix(rest, "=~"):
		t, p.i = MatchRegexp, p.i+2
	case strings.HasPrefix(rest, "!~"):
		t, p.i = MatchNotRegexp, p.i+2
	case strings.HasPrefix(rest, "!="):
		t, p.i = MatchNotEqual, p.i+2
	case strings.HasPrefix(rest, "="):
		t, p.i = MatchEqual, p.i+1
	default:
		return nil, fmt.Errorf("expected =, !=, =~ or !~ after %s", name)
	}
	p.space()
	var value string
	if p.i < len(p.s) && p.s[p.i] == '"' {
		end := p.i + 1
		for end < len(p.s) && p.s[end] != '"' {
			if p.s[end] == '\\' {
				end++
			}
			end++
		}
		if end >= len(p.s) {
			return nil, errors.New("unterminated quoted value of " + name)
		}
		v, err := strconv.Unquote(p.s[p.i : end+1])
		if err != nil {
			return nil, fmt.Errorf("bad quoted value of %s: %w", name, err)
		}
		value, p.i = v, end+1
	} else {
		end := strings.IndexByte(p.s[p.i:], ',')
		if end < 0 {
			end = len(p.s) - p.i
		}
		value = strings.TrimSpace(p.s[p.i : p.i+end])
		if strings.ContainsAny(value, `"{}`) {
			return nil, fmt.Errorf("bare value of %s holds a quote or brace: quote it", name)
		}
		p.i += end
	}
	return NewMatcher(t, name, value)
}
