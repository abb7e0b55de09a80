package notify

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/eventops/eventops/features"
	"github.com/eventops/eventops/rules"
)

func transition(state, host, episode string, value float64, at time.Time) *rules.Transition {
	tr := &rules.Transition{
		AlertName: "HighCPU", Tenant: "acme", Host: host, State: state, Severity: "critical",
		Labels:      map[string]string{"alertname": "HighCPU", "tenant": "acme", "host": host, "severity": "critical", "team": "infra"},
		Annotations: map[string]string{"summary": "CPU on " + host + " is high", "runbook": "https://wiki/cpu"},
		Value:       features.Float(value), ActiveAt: rules.Timestamp(t0.UnixMilli()), StartsAt: rules.Timestamp(t0.Add(time.Minute).UnixMilli()),
		EpisodeID: episode, At: rules.Timestamp(at.UnixMilli()),
	}
	if state == rules.StateResolved || state == rules.StateInactive {
		end := rules.Timestamp(at.UnixMilli())
		tr.EndsAt = &end
	}
	return tr
}

func TestFromTransition(t *testing.T) {
	for _, s := range []string{rules.StatePending, rules.StateInactive} {
		if _, ok := FromTransition(transition(s, "h", "e", 1, t0), ""); ok {
			t.Errorf("%s is notified", s)
		}
	}
	a, ok := FromTransition(transition(rules.StateResolved, "web-1", "00000000000000ab", 1, t0.Add(5*time.Minute)), "http://eventops:8088/")
	if !ok || a.Status != StatusResolved || !a.EndsAt.Equal(t0.Add(5*time.Minute)) || !a.StartsAt.Equal(t0.Add(time.Minute)) ||
		a.GeneratorURL != "http://eventops:8088/alerts/00000000000000ab?tenant=acme" || a.Tenant != "acme" {
		t.Fatalf("alert %+v", a)
	}
	// The fingerprint is the labels' (not the episode's), as Alertmanager's.
	b, _ := FromTransition(transition(rules.StateFiring, "web-1", "00000000000000cd", 1, t0), "")
	if a.Fingerprint != b.Fingerprint || len(a.Fingerprint) != 16 || !b.EndsAt.IsZero() {
		t.Fatalf("fingerprints %s %s", a.Fingerprint, b.Fingerprint)
	}
	// A record without labels still gets the identifying ones.
	bare := &rules.Transition{AlertName: "X", Tenant: "t", Host: "h", State: "firing", EpisodeID: "e"}
	c, _ := FromTransition(bare, "")
	if c.Labels["alertname"] != "X" || c.Labels["tenant"] != "t" || c.Labels["host"] != "h" {
		t.Fatalf("labels %v", c.Labels)
	}
}

func TestMessage(t *testing.T) {
	firing, _ := FromTransition(transition(rules.StateFiring, "web-1", "e1", 95, t0.Add(time.Minute)), "http://x")
	resolved, _ := FromTransition(transition(rules.StateResolved, "web-2", "e2", 80, t0.Add(2*time.Minute)), "http://x")
	resolved.Annotations["summary"] = "CPU on web-2 is fine"
	group := map[string]string{"alertname": "HighCPU", "tenant": "acme"}
	m := NewMessage("ops", `{}:{alertname="HighCPU", tenant="acme"}`, group, []Alert{firing, resolved}, "http://x", 0)
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"version":"4","groupKey":"{}:{alertname=\"HighCPU\", tenant=\"acme\"}","truncatedAlerts":0,"status":"firing","receiver":"ops",` +
		`"groupLabels":{"alertname":"HighCPU","tenant":"acme"},"commonLabels":{"alertname":"HighCPU","severity":"critical","team":"infra","tenant":"acme"},` +
		`"commonAnnotations":{"runbook":"https://wiki/cpu"},"externalURL":"http://x","alerts":[` +
		`{"status":"firing","labels":{"alertname":"HighCPU","host":"web-1","severity":"critical","team":"infra","tenant":"acme"},` +
		`"annotations":{"runbook":"https://wiki/cpu","summary":"CPU on web-1 is high"},"startsAt":"2025-10-21T10:01:00Z","endsAt":"0001-01-01T00:00:00Z",` +
		`"generatorURL":"http://x/alerts/e1?tenant=acme","fingerprint":"` + firing.Fingerprint + `"},` +
		`{"status":"resolved","labels":{"alertname":"HighCPU","host":"web-2","severity":"critical","team":"infra","tenant":"acme"},` +
		`"annotations":{"runbook":"https://wiki/cpu","summary":"CPU on web-2 is fine"},"startsAt":"2025-10-21T10:01:00Z","endsAt":"2025-10-21T10:02:00Z",` +
		`"generatorURL":"http://x/alerts/e2?tenant=acme","fingerprint":"` + resolved.Fingerprint + `"}]}`
	if string(b) != want {
		t.Fatalf("payload\n%s\nwant\n%s", b, want)
	}

	// All resolved: status resolved. max_alerts truncates; common labels
	// are still those of every alert.
	m = NewMessage("ops", "k", nil, []Alert{resolved, resolved, resolved}, "", 2)
	if m.Status != StatusResolved || len(m.Alerts) != 2 || m.TruncatedAlerts != 1 || m.CommonAnnotations["summary"] != "CPU on web-2 is fine" ||
		m.GroupLabels == nil {
		t.Fatalf("message %+v", m)
	}
}
