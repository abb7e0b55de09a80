package notify

// Route is a node of the route tree, with what it inherits resolved.
type Route struct {
	Receiver string
	// GroupBy are the labels alerts are grouped by (tenant is always
	// added); GroupByAll groups by every label (group_by: ['...']).
	GroupBy    []string
	GroupByAll bool
	Timing     Timing
	Continue   bool
	Matchers   Matchers
	Routes     []*Route
	// MuteIntervals and ActiveIntervals are the route's own
	// mute_time_intervals and active_time_intervals (not inherited, as in
	// Alertmanager).
	MuteIntervals, ActiveIntervals []*TimeInterval

	parent *Route
	key    string
}

// Key is the route's Alertmanager-style key ({} for the root,
// {}/{severity="critical"} below it), unique in its tree.
func (r *Route) Key() string { return r.key }

// Count is the number of routes of the tree under r, r included.
func (r *Route) Count() int {
	n := 1
	for _, c := range r.Routes {
		n += c.Count()
	}
	return n
}

// Match returns the routes an alert with labels goes to, in order.
func (r *Route) Match(labels map[string]string) []*Route {
	if !r.Matchers.Matches(labels) {
		return nil
	}
	var all []*Route
	for _, c := range r.Routes {
		m := c.Match(labels)
		all = append(all, m...)
		if m != nil && !c.Continue {
			break
		}
	}
	if len(all) == 0 {
		all = append(all, r)
	}
	return all
}

// GroupLabels returns the labels that put an alert in its group on this
// route: those of group_by the alert has, and always tenant.
func (r *Route) GroupLabels(labels map[string]string) map[string]string {
	out := make(map[string]string, len(r.GroupBy)+1)
	if r.GroupByAll {
		for k, v := range labels {
			out[k] = v
		}
		return out
	}
	for _, l := range r.GroupBy {
		if v, ok := labels[l]; ok {
			out[l] = v
		}
	}
	if v, ok := labels["tenant"]; ok {
		out["tenant"] = v
	}
	return out
}

// GroupKey is the groupKey of notifications of the group with those labels
// on this route, as Alertmanager writes it: routeKey:{label="value", ...}.
func (r *Route) GroupKey(groupLabels map[string]string) string {
	return r.key + ":" + labelString(groupLabels)
}
