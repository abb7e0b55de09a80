package rules

import (
	"strconv"
	"time"

	"gopkg.in/yaml.v3"
)

// Flapping is a rule's flapping option: an alert whose state changes
// (firing to resolved and back) Changes times or more within Window is
// flapping, and its notifications are held until it settles. The rule
// engine only carries the option; the notify stage applies it (see package
// notify for why there).
type Flapping struct {
	// Changes is the number of changes in Window that makes the alert
	// flapping; 0 turns detection off for the rule.
	Changes int
	Window  time.Duration
	// Set: the rule gives the option; otherwise the notify stage's default
	// applies.
	Set bool
}

// Bounds of the flapping option.
const (
	maxFlapChanges = 100
	maxFlapWindow  = 7 * 24 * time.Hour
)

// Flapping is the rule's flapping option.
func (r *Rule) Flapping() Flapping { return r.flapping }

// parseFlapping reads a rule's flapping: {changes: N, window: D}.
func (p *fileParser) parseFlapping(n *yaml.Node, what string) Flapping {
	f := Flapping{Set: true}
	what += ": flapping"
	line := n.Line
	p.mapping(n, what, func(key string, k, v *yaml.Node) {
		switch key {
		case "changes":
			s, ok := p.scalar(v, what+".changes")
			if !ok {
				return
			}
			c, err := strconv.Atoi(s.value)
			if err != nil || c != 0 && (c < 2 || c > maxFlapChanges) {
				p.errorf(v.Line, "%s.changes: %q must be 0 (off) or a whole number from 2 to %d", what, s.value, maxFlapChanges)
				return
			}
			f.Changes = c
		case "window":
			f.Window = p.duration(v, what+".window")
			if f.Window <= 0 || f.Window > maxFlapWindow {
				p.errorf(v.Line, "%s.window: must be positive and at most 7d", what)
			}
		default:
			p.errorf(k.Line, "%s: unknown key %q (allowed: changes, window)", what, key)
		}
	})
	if f.Changes > 0 && f.Window == 0 {
		p.errorf(line, "%s: changes needs a window", what)
	}
	return f
}
