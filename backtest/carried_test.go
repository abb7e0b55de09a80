package backtest_test

import (
	"context"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/eventops/eventops/backtest"
	"github.com/eventops/eventops/rules"
	"github.com/eventops/eventops/store"
	"github.com/eventops/eventops/tables"
)

// TestCarriedEpisodes: an episode the lead-in leaves open at from is
// reported once, as open, and drawn and counted from there: firing across
// from, it fired (live paged it before from: no page, its resolved notice
// counts); firing through the whole range, it fired for all of it;
// pending at from, it pages when it fires.
func TestCarriedEpisodes(t *testing.T) {
	rs, err := rules.Parse("carried.yml", []byte(`
metrics: [{name: cpu, kind: gauge}]
groups:
  - name: host
    rules:
      - {alert: BusyCPU, expr: 'max("cpu", "1m") > 50', for: 2m}
`), rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	from := start.Add(30 * time.Minute)
	to := from.Add(20 * time.Minute)
	ms := func(t time.Time) rules.Timestamp { return rules.Timestamp(t.UnixMilli()) }
	f := func(name string, hiFrom, hiTo time.Duration, wantOpen string, want backtest.RuleSummary, check func(*backtest.Span)) {
		t.Run(name, func(t *testing.T) {
			var h history
			for at := start; at.Before(to); at = at.Add(10 * time.Second) {
				v := 0.0
				if d := at.Sub(from); d >= hiFrom && d < hiTo {
					v = 100
				}
				h = append(h, &tables.Signal{Tenant: "acme", Host: "a", Samples: []tables.Sample{
					{Metric: "cpu", Value: v, TsMicro: at.UnixMicro()}}})
			}
			var sum backtest.Summarizer
			var open []*rules.Transition
			st, err := backtest.Run(context.Background(), h, store.SignalScan{From: from, To: to},
				backtest.Options{Rules: rs, LeadIn: 10 * time.Minute, Open: func(tr *rules.Transition) error {
					open = append(open, tr)
					sum.AddOpen(tr)
					return nil
				}}, func(tr *rules.Transition) error {
					if tr.At < ms(from) {
						t.Errorf("a transition of the lead-in emitted: %+v", tr)
					}
					sum.Add(tr)
					return nil
				})
			if err != nil {
				t.Fatal(err)
			}
			if len(open) != 1 || open[0].State != wantOpen || open[0].At != ms(from) || st.Open != 1 ||
				open[0].EpisodeID == "" || open[0].Labels["alertname"] != "BusyCPU" {
				t.Fatalf("open at from: %+v (stats %d), want one %s", open, st.Open, wantOpen)
			}
			spans := sum.Spans().List()
			if len(spans) != 1 || !spans[0].Carried || spans[0].EpisodeID != open[0].EpisodeID ||
				spans[0].PendingAt != open[0].ActiveAt {
				t.Fatalf("spans %+v, want the carried episode", spans)
			}
			check(spans[0])
			s := sum.Summary(backtest.SummaryOptions{Until: to, Rules: rs})
			got := s.Rules[0]
			want.Group, want.AlertName, want.RuleID, want.Series = "host", "BusyCPU", got.RuleID, 1
			if got != want {
				t.Errorf("summary\n got %+v\nwant %+v", got, want)
			}
		})
	}
	// Firing since 6 min before from, resolving when the 1m window no
	// longer holds the last high sample (+2m50s): firing from from to
	// +3m50s.
	f("firing across from", -8*time.Minute, 3*time.Minute, rules.StateFiring,
		backtest.RuleSummary{Episodes: 1, Carried: 1, Fired: 1, FiringMilli: (3*time.Minute + 50*time.Second).Milliseconds(), Notifications: backtest.Notifications{Resolved: 1}},
		func(sp *backtest.Span) {
			if sp.FiringAt >= ms(from) || sp.EndState != rules.StateResolved || sp.EndAt <= ms(from) {
				t.Errorf("span %+v: want firing before from, resolved after", sp)
			}
		})
	// Firing through the whole range: no transition at all.
	f("firing through the range", -8*time.Minute, time.Hour, rules.StateFiring,
		backtest.RuleSummary{Episodes: 1, Carried: 1, Fired: 1, FiringMilli: to.Sub(from).Milliseconds()},
		func(sp *backtest.Span) {
			if sp.FiringAt >= ms(from) || sp.EndAt != 0 || sp.FiringMilli(0, int64(ms(to))) != to.Sub(from).Milliseconds() {
				t.Errorf("span %+v: want firing before from, open", sp)
			}
		})
	// Pending since 1 min before from: it fires at +1m and pages, and
	// resolves at +5m50s.
	f("pending at from", -time.Minute, 5*time.Minute, rules.StatePending,
		backtest.RuleSummary{Episodes: 1, Carried: 1, Fired: 1, FiringMilli: (4*time.Minute + 50*time.Second).Milliseconds(), Notifications: backtest.Notifications{Pages: 1, Resolved: 1}},
		func(sp *backtest.Span) {
			if sp.PendingAt >= ms(from) || sp.FiringAt <= ms(from) || sp.EndState != rules.StateResolved {
				t.Errorf("span %+v: want pending before from, firing after", sp)
			}
		})
}

// TestOpenAtFromIsWhatTheTransitionsLeftOpen: over the streams of the
// identity test, a backtest from the middle of the history with a lead-in
// back to its start reports open at from exactly the episodes the whole
// history's transitions (live's) left pending or firing before from, in
// their state, with their times and labels.
func TestOpenAtFromIsWhatTheTransitionsLeftOpen(t *testing.T) {
	rs := identityRuleSet(t)
	start := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	span := 40 * time.Minute
	describe := func(tr *rules.Transition) string {
		return tr.Tenant + "/" + tr.Host + " " + tr.AlertName + " " + tr.EpisodeID + " " + tr.State + " " +
			tr.ActiveAt.String() + " " + tr.StartsAt.String() + " " + seriesOf(tr.Labels)
	}
	opened := 0
	for seed := range uint64(10) {
		h := genSources(rand.New(rand.NewPCG(seed, 7)), start, span, false)
		to := start.Add(span + 10*time.Minute)
		for _, mid := range []time.Duration{10 * time.Minute, 20*time.Minute + 7*time.Second, 30 * time.Minute} {
			from := start.Add(mid)
			// What the whole history's transitions leave open before from.
			open := map[string]*rules.Transition{}
			var order []string
			_, err := backtest.Run(context.Background(), h, store.SignalScan{From: start, To: to}, backtest.Options{Rules: rs, SeriesStaleAfter: staleAfter},
				func(tr *rules.Transition) error {
					if !tr.At.Time().Before(from) {
						return nil
					}
					switch tr.State {
					case rules.StatePending, rules.StateFiring:
						if _, ok := open[tr.EpisodeID]; !ok {
							order = append(order, tr.EpisodeID)
						}
						open[tr.EpisodeID] = tr
					default:
						delete(open, tr.EpisodeID)
					}
					return nil
				})
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]bool{}
			for _, ep := range order {
				if tr := open[ep]; tr != nil {
					want[describe(tr)] = true
				}
			}
			got := map[string]bool{}
			st, err := backtest.Run(context.Background(), h, store.SignalScan{From: from, To: to},
				backtest.Options{Rules: rs, SeriesStaleAfter: staleAfter, LeadIn: mid, Open: func(tr *rules.Transition) error {
					if tr.At != rules.Timestamp(from.UnixMilli()) {
						t.Errorf("open record at %s, want %s", tr.At, from)
					}
					got[describe(tr)] = true
					return nil
				}}, func(*rules.Transition) error { return nil })
			if err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(got, want) || st.Open != int64(len(want)) {
				t.Errorf("seed %d, from %s: open\n got %v\nwant %v", seed, from, slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want)))
			}
			opened += len(got)
		}
	}
	if opened == 0 {
		t.Fatal("no episode open at any from")
	}
}

// seriesOf writes labels sorted by name.
func seriesOf(labels map[string]string) string {
	var out string
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		out += k + "=" + labels[k] + ","
	}
	return out
}

// TestDefaultLeadInCoversFor: by default the lead-in covers a rule's `for`
// (and keep_firing_for) besides its window, so that an alert firing
// steadily since long before from is open at from as firing, as live had
// it, rather than pending there and firing (and paging) in the range.
func TestDefaultLeadInCoversFor(t *testing.T) {
	rs, err := rules.Parse("steady.yml", []byte(`
metrics: [{name: cpu, kind: gauge}]
groups:
  - name: host
    rules:
      - {alert: BusyCPU, expr: 'max("cpu", "1m") > 50', for: 5m, keep_firing_for: 2m}
`), rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	from := start.Add(time.Hour)
	to := from.Add(20 * time.Minute)
	var h history
	for at := start; at.Before(to); at = at.Add(10 * time.Second) {
		h = append(h, &tables.Signal{Tenant: "acme", Host: "a", Samples: []tables.Sample{
			{Metric: "cpu", Value: 100, TsMicro: at.UnixMicro()}}})
	}
	var sum backtest.Summarizer
	var open []*rules.Transition
	_, err = backtest.Run(context.Background(), h, store.SignalScan{From: from, To: to},
		backtest.Options{Rules: rs, Open: func(tr *rules.Transition) error {
			open = append(open, tr)
			sum.AddOpen(tr)
			return nil
		}}, func(tr *rules.Transition) error {
			t.Errorf("a transition of an alert firing throughout: %+v", tr)
			sum.Add(tr)
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	if len(open) != 1 || open[0].State != rules.StateFiring {
		t.Fatalf("open at from: %+v, want one firing", open)
	}
	if got := sum.Summary(backtest.SummaryOptions{Until: to, Rules: rs}).Rules[0].Notifications; got.Pages != 0 {
		t.Errorf("notifications %+v, want no page", got)
	}
}
