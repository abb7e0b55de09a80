package notify

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"sort"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/eventops/eventops/rules"
)

// Defaults of the route timings and of a webhook, Alertmanager's where it
// has one.
const (
	DefaultGroupWait      = 30 * time.Second
	DefaultGroupInterval  = 5 * time.Minute
	DefaultRepeatInterval = 4 * time.Hour
	DefaultWebhookTimeout = 10 * time.Second
	DefaultQueueCapacity  = 1000
)

// Config is a validated receiver file.
type Config struct {
	// ExternalURL is the base of the links in notifications (externalURL,
	// generatorURL); empty lets the caller pick one.
	ExternalURL string
	// QueueCapacity bounds the transitions each webhook holds undelivered;
	// beyond it new ones are refused and counted.
	QueueCapacity int
	Route         *Route
	// Receivers are in file order.
	Receivers []*Receiver
	// InhibitRules are in file order.
	InhibitRules []*InhibitRule
	// TimeIntervals are by name.
	TimeIntervals map[string]*TimeInterval
}

// Receiver is a named set of webhooks.
type Receiver struct {
	Name     string
	Webhooks []*Webhook
}

// Webhook is one webhook_configs entry.
type Webhook struct {
	URL          string
	SendResolved bool
	// MaxAlerts caps the alerts of one notification (0: no cap); the rest
	// are counted in truncatedAlerts.
	MaxAlerts int
	// Timeout bounds one attempt.
	Timeout time.Duration
}

// Timing is a route's group timers.
type Timing struct {
	GroupWait, GroupInterval, RepeatInterval time.Duration
}

// Receiver returns the receiver of that name, or nil.
func (c *Config) Receiver(name string) *Receiver {
	for _, r := range c.Receivers {
		if r.Name == name {
			return r
		}
	}
	return nil
}

// Load reads and validates a receiver file. Its problems are
// rules.Errors: each says FILE:LINE: message, as a rule file's do.
func Load(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("alerting: %w", err)
	}
	return ParseFile(path, b)
}

// Parse validates a receiver file named "alerting file" in its errors.
func Parse(data []byte) (*Config, error) { return ParseFile("alerting file", data) }

// ParseFile validates a receiver file. Every problem is reported (as
// rules.Errors), each naming its key and at the line of it.
func ParseFile(name string, data []byte) (*Config, error) {
	c, err := parse(data)
	if err == nil {
		return c, nil
	}
	var root yaml.Node
	_ = yaml.Unmarshal(data, &root)
	return nil, positioned(name, &root, err)
}

// The file as written.
type rawConfig struct {
	ExternalURL   string            `yaml:"external_url"`
	QueueCapacity *int              `yaml:"queue_capacity"`
	Route         *rawRoute         `yaml:"route"`
	Receivers     []rawReceiver     `yaml:"receivers"`
	InhibitRules  []rawInhibit      `yaml:"inhibit_rules"`
	TimeIntervals []rawTimeInterval `yaml:"time_intervals"`
}

type rawInhibit struct {
	SourceMatchers []string `yaml:"source_matchers"`
	TargetMatchers []string `yaml:"target_matchers"`
	Equal          []string `yaml:"equal"`
}

type rawRoute struct {
	Receiver        string            `yaml:"receiver"`
	GroupBy         []string          `yaml:"group_by"`
	GroupWait       *duration         `yaml:"group_wait"`
	GroupInterval   *duration         `yaml:"group_interval"`
	RepeatInterval  *duration         `yaml:"repeat_interval"`
	Continue        bool              `yaml:"continue"`
	Matchers        []string          `yaml:"matchers"`
	Match           map[string]string `yaml:"match"`
	MatchRE         map[string]string `yaml:"match_re"`
	Routes          []*rawRoute       `yaml:"routes"`
	MuteIntervals   []string          `yaml:"mute_time_intervals"`
	ActiveIntervals []string          `yaml:"active_time_intervals"`
}

type rawReceiver struct {
	Name           string       `yaml:"name"`
	WebhookConfigs []rawWebhook `yaml:"webhook_configs"`
}

type rawWebhook struct {
	URL          string    `yaml:"url"`
	SendResolved *bool     `yaml:"send_resolved"`
	MaxAlerts    int       `yaml:"max_alerts"`
	Timeout      *duration `yaml:"timeout"`
}

// duration reads a Prometheus-style duration ("30s", "5m", "4h", "1d").
type duration time.Duration

func (d *duration) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return err
	}
	v, err := rules.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("line %d: %q: %w", n.Line, s, err)
	}
	*d = duration(v)
	return nil
}

// unsupported are Alertmanager keys EventOps does not support; they are
// refused by name rather than ignored.
var unsupported = map[string]string{
	"global":    "set timeouts per webhook",
	"templates": "the payload is Alertmanager's webhook JSON; template it in the consumer",
}

// unknownField rewrites yaml's message about an unknown key, which names
// Go types.
var unknownField = regexp.MustCompile(`field (\S+) not found in type notify\.(raw\w+)`)

var rawTypes = map[string]string{
	"rawConfig": "the file", "rawInhibit": "an inhibit_rules entry", "rawTimeInterval": "a time_intervals entry", "rawTimeRange": "a time interval", "rawRoute": "a route", "rawReceiver": "a receiver", "rawWebhook": "a webhook_configs entry",
}

// parse validates a receiver file; each problem names its key, or its line.
func parse(data []byte) (*Config, error) {
	var top map[string]yaml.Node
	if err := yaml.Unmarshal(data, &top); err != nil {
		return nil, err
	}
	var errs []error
	keys := make([]string, 0, len(top))
	for k := range top {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if why, ok := unsupported[k]; ok {
			n := top[k]
			errs = append(errs, fmt.Errorf("line %d: %s is not supported (%s)", n.Line, k, why))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	var raw rawConfig
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&raw); err != nil {
		return nil, errors.New(unknownField.ReplaceAllStringFunc(err.Error(), func(m string) string {
			sub := unknownField.FindStringSubmatch(m)
			return "unknown key " + sub[1] + " in " + rawTypes[sub[2]]
		}))
	}
	c := &Config{ExternalURL: raw.ExternalURL, QueueCapacity: DefaultQueueCapacity}
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if raw.ExternalURL != "" {
		if u, err := url.Parse(raw.ExternalURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("external_url: %q is not an http(s) URL", raw.ExternalURL)
		}
	}
	if raw.QueueCapacity != nil {
		c.QueueCapacity = *raw.QueueCapacity
		if c.QueueCapacity < 1 || c.QueueCapacity > 1_000_000 {
			bad("queue_capacity: %d is out of range 1..1000000", c.QueueCapacity)
		}
	}
	names := map[string]bool{}
	for i, rr := range raw.Receivers {
		key := fmt.Sprintf("receivers[%d]", i)
		if rr.Name == "" {
			bad("%s.name: must not be empty", key)
		} else if names[rr.Name] {
			bad("%s.name: receiver %q is defined twice", key, rr.Name)
		}
		names[rr.Name] = true
		r := &Receiver{Name: rr.Name}
		for j, rw := range rr.WebhookConfigs {
			wkey := fmt.Sprintf("%s.webhook_configs[%d]", key, j)
			w := &Webhook{URL: rw.URL, SendResolved: true, MaxAlerts: rw.MaxAlerts, Timeout: DefaultWebhookTimeout}
			if u, err := url.Parse(rw.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				bad("%s.url: %q is not an http(s) URL", wkey, RedactURL(rw.URL))
			}
			if rw.SendResolved != nil {
				w.SendResolved = *rw.SendResolved
			}
			if w.MaxAlerts < 0 {
				bad("%s.max_alerts: %d is negative (0 sends every alert)", wkey, w.MaxAlerts)
			}
			if rw.Timeout != nil {
				w.Timeout = time.Duration(*rw.Timeout)
				if w.Timeout <= 0 {
					bad("%s.timeout: must be positive", wkey)
				}
			}
			r.Webhooks = append(r.Webhooks, w)
		}
		c.Receivers = append(c.Receivers, r)
	}
	for i, ri := range raw.InhibitRules {
		c.InhibitRules = append(c.InhibitRules, buildInhibit(ri, fmt.Sprintf("inhibit_rules[%d]", i), bad))
	}
	c.TimeIntervals = map[string]*TimeInterval{}
	for i, rt := range raw.TimeIntervals {
		key := fmt.Sprintf("time_intervals[%d]", i)
		switch {
		case rt.Name == "":
			bad("%s.name: must not be empty", key)
		case c.TimeIntervals[rt.Name] != nil:
			bad("%s.name: time interval %q is defined twice", key, rt.Name)
		}
		ti := &TimeInterval{Name: rt.Name}
		for j, rr := range rt.TimeIntervals {
			ti.Ranges = append(ti.Ranges, buildTimeRange(rr, fmt.Sprintf("%s.time_intervals[%d]", key, j), bad))
		}
		c.TimeIntervals[rt.Name] = ti
	}
	if raw.Route == nil {
		bad("route: is required (at least route.receiver)")
		return nil, errors.Join(errs...)
	}
	if len(raw.Route.Matchers)+len(raw.Route.Match)+len(raw.Route.MatchRE) > 0 {
		bad("route: the root route matches every alert; it takes no matchers")
	}
	if raw.Route.Continue {
		bad("route.continue: the root route cannot have continue")
	}
	if raw.Route.Receiver == "" {
		bad("route.receiver: the root route needs a receiver")
	}
	if len(raw.Route.MuteIntervals)+len(raw.Route.ActiveIntervals) > 0 {
		bad("route: the root route takes no mute_time_intervals or active_time_intervals")
	}
	root := &Route{key: "{}", Timing: Timing{DefaultGroupWait, DefaultGroupInterval, DefaultRepeatInterval}}
	c.Route = root
	buildRoute(root, raw.Route, "route", 0, nil, routeRefs{receivers: names, intervals: c.TimeIntervals}, bad)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return c, nil
}

// buildInhibit reads an inhibit rule; tenant is always one of the labels
// source and target must share.
func buildInhibit(raw rawInhibit, key string, bad func(string, ...any)) *InhibitRule {
	r := &InhibitRule{Equal: []string{"tenant"}}
	for _, side := range []struct {
		list []string
		key  string
		out  *Matchers
	}{{raw.SourceMatchers, "source_matchers", &r.Source}, {raw.TargetMatchers, "target_matchers", &r.Target}} {
		if len(side.list) == 0 {
			bad("%s.%s: at least one matcher is needed (an empty list would match every alert)", key, side.key)
		}
		for j, s := range side.list {
			ms, err := ParseMatchers(s)
			if err != nil {
				bad("%s.%s[%d]: %v", key, side.key, j, err)
				continue
			}
			*side.out = append(*side.out, ms...)
		}
	}
	seen := map[string]bool{"tenant": true}
	for _, l := range raw.Equal {
		switch {
		case !validLabelName(l):
			bad("%s.equal: %q is not a label name", key, l)
		case seen[l] && l != "tenant":
			bad("%s.equal: %q is listed twice", key, l)
		case !seen[l]:
			r.Equal = append(r.Equal, l)
		}
		seen[l] = true
	}
	return r
}

// routeRefs are what routes refer to by name.
type routeRefs struct {
	receivers map[string]bool
	intervals map[string]*TimeInterval
}

// buildRoute fills r (which holds what it inherits) from raw; index is its
// place among siblings, whose keys so far are in siblings.
func buildRoute(r *Route, raw *rawRoute, key string, index int, siblings map[string]bool, refs routeRefs, bad func(string, ...any)) {
	if raw.Receiver != "" {
		r.Receiver = raw.Receiver
		if !refs.receivers[raw.Receiver] {
			bad("%s.receiver: no receiver is named %q", key, raw.Receiver)
		}
	}
	if raw.GroupBy != nil {
		r.GroupBy, r.GroupByAll = nil, false
		seen := map[string]bool{}
		for _, l := range raw.GroupBy {
			switch {
			case l == "...":
				r.GroupByAll = true
			case !validLabelName(l):
				bad("%s.group_by: %q is not a label name", key, l)
			case seen[l]:
				bad("%s.group_by: %q is listed twice", key, l)
			default:
				r.GroupBy = append(r.GroupBy, l)
			}
			seen[l] = true
		}
		if r.GroupByAll && len(raw.GroupBy) > 1 {
			bad("%s.group_by: '...' groups by every label and stands alone", key)
		}
	}
	if raw.GroupWait != nil {
		r.Timing.GroupWait = time.Duration(*raw.GroupWait)
	}
	if raw.GroupInterval != nil {
		r.Timing.GroupInterval = time.Duration(*raw.GroupInterval)
		if r.Timing.GroupInterval <= 0 {
			bad("%s.group_interval: must be positive", key)
		}
	}
	if raw.RepeatInterval != nil {
		r.Timing.RepeatInterval = time.Duration(*raw.RepeatInterval)
		if r.Timing.RepeatInterval <= 0 {
			bad("%s.repeat_interval: must be positive", key)
		}
	}
	r.Continue = raw.Continue
	for _, l := range []struct {
		names []string
		key   string
		out   *[]*TimeInterval
	}{{raw.MuteIntervals, "mute_time_intervals", &r.MuteIntervals}, {raw.ActiveIntervals, "active_time_intervals", &r.ActiveIntervals}} {
		for j, name := range l.names {
			ti := refs.intervals[name]
			if ti == nil {
				bad("%s.%s[%d]: no time interval is named %q", key, l.key, j, name)
				continue
			}
			*l.out = append(*l.out, ti)
		}
	}
	for i, s := range raw.Matchers {
		ms, err := ParseMatchers(s)
		if err != nil {
			bad("%s.matchers[%d]: %v", key, i, err)
			continue
		}
		r.Matchers = append(r.Matchers, ms...)
	}
	for _, m := range []struct {
		t   MatchType
		set map[string]string
		key string
	}{{MatchEqual, raw.Match, "match"}, {MatchRegexp, raw.MatchRE, "match_re"}} {
		names := make([]string, 0, len(m.set))
		for n := range m.set {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			mm, err := NewMatcher(m.t, n, m.set[n])
			if err != nil {
				bad("%s.%s: %v", key, m.key, err)
				continue
			}
			r.Matchers = append(r.Matchers, mm)
		}
	}
	if r.parent != nil {
		// Alertmanager's route key; siblings with the same matchers keep
		// groups of their own.
		r.key = r.parent.key + "/" + r.Matchers.String()
		if siblings[r.key] {
			r.key += fmt.Sprintf("/%d", index)
		}
		siblings[r.key] = true
	}
	children := map[string]bool{}
	for i, rc := range raw.Routes {
		if rc == nil {
			bad("%s.routes[%d]: empty route", key, i)
			continue
		}
		child := &Route{Receiver: r.Receiver, GroupBy: r.GroupBy, GroupByAll: r.GroupByAll, Timing: r.Timing, parent: r}
		buildRoute(child, rc, fmt.Sprintf("%s.routes[%d]", key, i), i, children, refs, bad)
		r.Routes = append(r.Routes, child)
	}
}

// RedactURL is a webhook URL as it may be logged: scheme and host, and a
// short hash of the whole URL that tells webhooks apart. Path, query and
// user info often carry the webhook's secret (Slack-style path tokens,
// ?token=, user:password@) and are left out.
func RedactURL(raw string) string {
	sum := sha256.Sum256([]byte(raw))
	tag := hex.EncodeToString(sum[:4])
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "<url " + tag + ">"
	}
	return u.Scheme + "://" + u.Host + "/…#" + tag
}
