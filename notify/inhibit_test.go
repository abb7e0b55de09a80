package notify

import "testing"

func alertOf(tenant, ep, status string, labels map[string]string) Alert {
	l := map[string]string{"tenant": tenant}
	for k, v := range labels {
		l[k] = v
	}
	return Alert{EpisodeID: ep, Tenant: tenant, Status: status, Labels: l}
}

func TestInhibition(t *testing.T) {
	c, err := Parse([]byte(`
route: {receiver: ops}
receivers: [{name: ops}]
inhibit_rules:
  - source_matchers: ['alertname="HostDown"']
    target_matchers: ['alertname=~"HighCPU|HostDown"']
    equal: [host]
`))
	if err != nil {
		t.Fatal(err)
	}
	rs := c.InhibitRules
	if len(rs) != 1 || len(rs[0].Equal) != 2 || rs[0].Equal[0] != "tenant" {
		t.Fatalf("rules %+v", rs[0])
	}
	down := alertOf("acme", "d1", StatusFiring, map[string]string{"alertname": "HostDown", "host": "h1"})
	cpu := alertOf("acme", "c1", StatusFiring, map[string]string{"alertname": "HighCPU", "host": "h1"})
	f := func(name string, sources []Alert, target Alert, want bool) {
		t.Helper()
		if _, got := InhibitedBy(rs, sources, target); got != want {
			t.Errorf("%s: inhibited %v, want %v", name, got, want)
		}
	}
	f("same host", []Alert{down}, cpu, true)
	f("no source", nil, cpu, false)
	f("other host", []Alert{down}, alertOf("acme", "c2", StatusFiring, map[string]string{"alertname": "HighCPU", "host": "h2"}), false)
	f("other tenant", []Alert{down}, alertOf("globex", "c1", StatusFiring, map[string]string{"alertname": "HighCPU", "host": "h1"}), false)
	resolved := down
	resolved.Status = StatusResolved
	f("resolved source", []Alert{resolved}, cpu, false)
	f("itself", []Alert{down}, down, false)
	// Two HostDowns match both sides: neither mutes the other (or both
	// would be silent).
	d2 := alertOf("acme", "d2", StatusFiring, map[string]string{"alertname": "HostDown", "host": "h1"})
	f("another HostDown", []Alert{down}, d2, false)
	f("the first HostDown", []Alert{d2}, down, false)

	// Released: what down inhibited and nothing else still does.
	down2 := alertOf("acme", "d2", StatusFiring, map[string]string{"alertname": "HostDown", "host": "h2"})
	cpu2 := alertOf("acme", "c2", StatusFiring, map[string]string{"alertname": "HighCPU", "host": "h2"})
	got := Released(rs, []Alert{down, cpu, down2, cpu2}, resolved)
	if len(got) != 1 || got[0].EpisodeID != "c1" {
		t.Fatalf("released %+v", got)
	}
	down3 := alertOf("acme", "d3", StatusFiring, map[string]string{"alertname": "HostDown", "host": "h1"})
	// c1 is not released while d3 fires.
	if got := Released(rs, []Alert{down, cpu, down3}, resolved); len(got) != 0 {
		t.Fatalf("released %+v", got)
	}
}
