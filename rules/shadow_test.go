package rules

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

const shadowRules = `
metrics: [{name: cpu}, {name: disk}]
groups:
  - name: host
    rules:
      - alert: HighCPU
        expr: last("cpu") > 90
        labels: {severity: critical}
        mode: shadow
      - alert: DiskFull
        expr: last("disk") > 90
`

// TestShadowModeParse: mode: shadow marks a rule, live and no mode do not.
func TestShadowModeParse(t *testing.T) {
	rs := parseRules(t, shadowRules)
	live := parseRules(t, strings.Replace(shadowRules, "mode: shadow", "mode: live", 1))
	for _, c := range []struct {
		rs     *RuleSet
		name   string
		shadow bool
	}{{rs, "HighCPU", true}, {rs, "DiskFull", false}, {live, "HighCPU", false}} {
		r := c.rs.byAlert[alertKey{"host", c.name}]
		if r == nil || r.Shadow() != c.shadow {
			t.Errorf("%s: shadow = %v, want %v", c.name, r != nil && r.Shadow(), c.shadow)
		}
	}
}

// TestShadowKeepsRuleID: the mode is not part of a rule's ID nor of the
// set's fingerprint, so promoting a rule keeps its state.
func TestShadowKeepsRuleID(t *testing.T) {
	shadow := parseRules(t, shadowRules)
	for _, edit := range []string{"mode: live", ""} {
		live := parseRules(t, strings.Replace(shadowRules, "mode: shadow", edit, 1))
		a, b := shadow.byAlert[alertKey{"host", "HighCPU"}], live.byAlert[alertKey{"host", "HighCPU"}]
		if a.ID() != b.ID() || shadow.Fingerprint() != live.Fingerprint() {
			t.Errorf("%q: ID %s / %s, fingerprint %x / %x", edit, a.ID(), b.ID(), shadow.Fingerprint(), live.Fingerprint())
		}
	}
}

// TestShadowPromotion: a shadow alert's transitions are marked; a reload
// that promotes the rule keeps the firing episode (no resolve, no new
// firing) and its next transitions are live.
func TestShadowPromotion(t *testing.T) {
	rs1 := parseRules(t, shadowRules)
	s := newRetireSource()
	s.sample(rs1, "cpu", 95)
	s.sample(rs1, "disk", 95)
	got, trs := s.take()
	if got != "HighCPU:firing DiskFull:firing" || !trs[0].Shadow || trs[1].Shadow {
		t.Fatalf("before the promotion: %s shadow %v %v", got, trs[0].Shadow, trs[1].Shadow)
	}
	if b, _ := json.Marshal(trs[0]); !strings.Contains(string(b), `"shadow":true`) {
		t.Errorf("shadow transition JSON: %s", b)
	}
	if b, _ := json.Marshal(trs[1]); strings.Contains(string(b), `"shadow"`) {
		t.Errorf("live transition JSON: %s", b)
	}
	episode := trs[0].EpisodeID

	rs2 := parseRules(t, strings.Replace(shadowRules, "mode: shadow", "mode: live", 1)).Replacing(rs1)
	s.reload(rs2)
	s.sample(rs2, "cpu", 96)
	if got, _ := s.take(); got != "" {
		t.Fatalf("the promotion must not end or restart the episode: %s", got)
	}
	s.sample(rs2, "cpu", 50)
	got, trs = s.take()
	if got != "HighCPU:resolved" || trs[0].EpisodeID != episode || trs[0].Shadow {
		t.Fatalf("after the promotion: %s %+v", got, trs)
	}
}

// TestShadowEndsAndReminders: the transitions a rule builds outside its
// condition (a reminder, the end by a reload) carry its mode too.
func TestShadowEndsAndReminders(t *testing.T) {
	rs1, err := Parse("r.yml", []byte(shadowRules), Options{ResendInterval: 15 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	s := newRetireSource()
	s.sample(rs1, "cpu", 95)
	s.sample(rs1, "cpu", 95)
	s.sample(rs1, "cpu", 95)
	got, trs := s.take()
	if !strings.HasPrefix(got, "HighCPU:firing HighCPU:firing") || !trs[1].Resend || !trs[1].Shadow {
		t.Fatalf("reminder: %s %+v", got, trs)
	}
	noCPU := shadowRules[:strings.Index(shadowRules, "      - alert: HighCPU")] + shadowRules[strings.Index(shadowRules, "      - alert: DiskFull"):]
	rs2 := parseRules(t, noCPU).Replacing(rs1)
	s.reload(rs2)
	got, trs = s.take()
	if got != "HighCPU:resolved:rule_removed" || !trs[0].Shadow {
		t.Fatalf("end by the reload: %s %+v", got, trs)
	}
}

// The end of an alert whose series left the source is its rule's, marked.
func TestShadowSeriesGone(t *testing.T) {
	rs := parseRules(t, strings.ReplaceAll(seriesRules, "\n        expr:", "\n        mode: shadow\n        expr:"))
	s := newSeriesSource(rs)
	s.add(t, `a{x="1"}`, 1000, 5)
	s.add(t, `b{x="1"}`, 1000, 6)
	s.feats.Delete("b", []Label{{Name: "x", Value: "1"}})
	s.feats.Delete("a", []Label{{Name: "x", Value: "1"}})
	s.rs.AdvanceAt(&s.lc, s.src, &s.feats, 2000, "", func(tr *Transition) { s.out = append(s.out, tr) })
	if len(s.out) < 2 {
		t.Fatalf("transitions %+v", s.out)
	}
	for _, tr := range s.out {
		if !tr.Shadow {
			t.Fatalf("unmarked transition %+v", tr)
		}
	}
	if last := s.out[len(s.out)-1]; last.Reason != ReasonSeriesGone {
		t.Fatalf("last transition %+v", last)
	}
}
