package backtest_test

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/eventops/eventops/backtest"
	"github.com/eventops/eventops/rules"
	"github.com/eventops/eventops/store"
)

// Stored samples came in raw records a backtest does not know: their
// explanations list them without an origin rather than naming partition 0,
// offset 0 of the raw topic.
func TestReplayedSamplesHaveNoOrigin(t *testing.T) {
	rs := identityRuleSet(t)
	start := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	h := genSources(rand.New(rand.NewPCG(3, 9)), start, 40*time.Minute, false)
	q := store.SignalScan{From: start, To: start.Add(time.Hour)}
	listed := 0
	_, err := backtest.Run(context.Background(), h, q, backtest.Options{Rules: rs}, func(tr *rules.Transition) error {
		if tr.Explanation == nil {
			return nil
		}
		for _, s := range tr.Explanation.Samples {
			listed++
			if s.Origin != nil {
				t.Fatalf("%s %s at %s: sample %s at %s names origin %+v", tr.AlertName, tr.State, tr.At, s.Metric, s.At, *s.Origin)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if listed == 0 {
		t.Fatal("no transition listed a sample: the test shows nothing")
	}
}
