package notify

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2025, 10, 21, 10, 0, 0, 0, time.UTC)

// A group script: each step runs one operation at a time (seconds after t0)
// and checks what it released, the batch it produced, and when the group
// wants to flush next.
//
// Operations: "fire EP TOKEN [sent]" (sent: the record says the firing was
// delivered before), "resolve EP TOKEN [sent|done]" (sent: its firing was
// delivered; done: its resolved was too), "flush", "ok", "retry", "fail"
// for the result of the last batch, and "withdraw TOKEN..." (the tokens
// the predicate selects).
type groupStep struct {
	at    int
	op    string
	rel   string // released tokens, sorted, space-separated
	batch string // for flush: "firing:e1 resolved:e2 | t1 t2" or "-"
	next  int    // seconds after t0 of NextAt; -1: none
}

func TestGroupScripts(t *testing.T) {
	timing := Timing{GroupWait: 10 * time.Second, GroupInterval: 60 * time.Second, RepeatInterval: 600 * time.Second}
	cases := []struct {
		name         string
		sendResolved bool
		steps        []groupStep
	}{
		{
			name: "group_wait, then group_interval for new alerts, then repeat", sendResolved: true,
			steps: []groupStep{
				{at: 0, op: "fire e1 t1", next: 10},
				{at: 5, op: "fire e2 t2", next: 10},
				{at: 10, op: "flush", batch: "firing:e1 firing:e2 | t1 t2", next: -1},
				{at: 11, op: "ok", rel: "t1 t2", next: 611},
				{at: 20, op: "fire e3 t3", next: 71},
				{at: 71, op: "flush", batch: "firing:e1 firing:e2 firing:e3 | t3", next: -1},
				{at: 72, op: "ok", rel: "t3", next: 672},
				{at: 672, op: "flush", batch: "firing:e1 firing:e2 firing:e3 | repeat", next: -1},
				{at: 672, op: "ok", next: 1272},
			},
		},
		{
			name: "a resolved notice goes out at once and leaves the group", sendResolved: true,
			steps: []groupStep{
				{at: 0, op: "fire e1 t1", next: 10},
				{at: 10, op: "flush", batch: "firing:e1 | t1", next: -1},
				{at: 10, op: "ok", rel: "t1", next: 610},
				{at: 30, op: "resolve e1 t2", next: 30},
				{at: 30, op: "flush", batch: "resolved:e1 | t2", next: -1},
				{at: 31, op: "ok", rel: "t2", next: -1},
			},
		},
		{
			name: "send_resolved false: the resolved episode is dropped, nothing sent", sendResolved: false,
			steps: []groupStep{
				{at: 0, op: "fire e1 t1", next: 10},
				{at: 10, op: "flush", batch: "firing:e1 | t1", next: -1},
				{at: 10, op: "ok", rel: "t1", next: 610},
				{at: 30, op: "resolve e1 t2", next: 30},
				{at: 30, op: "flush", rel: "t2", batch: "-", next: -1},
			},
		},
		{
			name: "an episode resolved within group_wait is never told", sendResolved: true,
			steps: []groupStep{
				{at: 0, op: "fire e1 t1", next: 10},
				{at: 3, op: "resolve e1 t2", next: 3},
				{at: 3, op: "flush", rel: "t1 t2", batch: "-", next: -1},
			},
		},
		{
			name: "a resolved arriving while its firing is out is told after it", sendResolved: true,
			steps: []groupStep{
				{at: 0, op: "fire e1 t1", next: 10},
				{at: 10, op: "flush", batch: "firing:e1 | t1", next: -1},
				{at: 11, op: "resolve e1 t2", next: -1},
				{at: 12, op: "ok", rel: "t1", next: 12},
				{at: 12, op: "flush", batch: "resolved:e1 | t2", next: -1},
				{at: 12, op: "ok", rel: "t2", next: -1},
			},
		},
		{
			name: "... and dropped when that firing is refused for good", sendResolved: true,
			steps: []groupStep{
				{at: 0, op: "fire e1 t1", next: 10},
				{at: 10, op: "flush", batch: "firing:e1 | t1", next: -1},
				{at: 11, op: "resolve e1 t2", next: -1},
				{at: 12, op: "fail", rel: "t1", next: 12},
				{at: 12, op: "flush", rel: "t2", batch: "-", next: -1},
			},
		},
		{
			name: "retries with backoff keep their tokens and pick up new alerts", sendResolved: true,
			steps: []groupStep{
				{at: 0, op: "fire e1 t1", next: 10},
				{at: 10, op: "flush", batch: "firing:e1 | t1", next: -1},
				{at: 11, op: "retry", next: 13}, // backoff 2s
				{at: 12, op: "fire e2 t2", next: 13},
				{at: 13, op: "flush", batch: "firing:e1 firing:e2 | t1 t2", next: -1},
				{at: 14, op: "retry", next: 18}, // backoff 4s
				{at: 18, op: "flush", batch: "firing:e1 firing:e2 | t1 t2", next: -1},
				{at: 19, op: "ok", rel: "t1 t2", next: 619},
			},
		},
		{
			name: "a replayed firing already delivered is released at once, and a resolved follows", sendResolved: true,
			steps: []groupStep{
				{at: 0, op: "fire e1 t1 sent", rel: "t1", next: 600},
				{at: 50, op: "fire e1 t2 sent", rel: "t2", next: 600},
				{at: 100, op: "resolve e1 t3", next: 100},
				{at: 100, op: "flush", batch: "resolved:e1 | t3", next: -1},
				{at: 100, op: "ok", rel: "t3", next: -1},
			},
		},
		{
			name: "after a restart, a resolved whose firing was sent is told; one already told is not", sendResolved: true,
			steps: []groupStep{
				{at: 0, op: "resolve e1 t1 sent", next: 0},
				{at: 0, op: "resolve e2 t2 done", rel: "t2", next: 0},
				{at: 0, op: "flush", batch: "resolved:e1 | t1", next: -1},
				{at: 1, op: "ok", rel: "t1", next: -1},
			},
		},
		{
			name: "a resolved of an episode never told as firing is released", sendResolved: true,
			steps: []groupStep{
				{at: 0, op: "resolve e1 t1", rel: "t1", next: -1},
			},
		},
		{
			name: "a copy of a firing waiting in group_wait rides with it", sendResolved: true,
			steps: []groupStep{
				{at: 0, op: "fire e1 t1", next: 10},
				{at: 1, op: "fire e1 t2", next: 10},
				{at: 10, op: "flush", batch: "firing:e1 | t1 t2", next: -1},
				{at: 10, op: "fire e1 t3", next: -1},
				{at: 11, op: "ok", rel: "t1 t2 t3", next: 611},
			},
		},
		{
			name: "nothing new and no repeat due: no notification", sendResolved: false,
			steps: []groupStep{
				{at: 0, op: "fire e1 t1", next: 10},
				{at: 10, op: "flush", batch: "firing:e1 | t1", next: -1},
				{at: 10, op: "ok", rel: "t1", next: 610},
				{at: 20, op: "fire e2 t2", next: 70},
				{at: 30, op: "resolve e2 t3", next: 30},
				{at: 30, op: "flush", rel: "t2 t3", batch: "-", next: 610},
			},
		},
		{
			name: "a withdrawn alert leaves with its tokens; the others stay", sendResolved: true,
			steps: []groupStep{
				{at: 0, op: "fire e1 t1", next: 10},
				{at: 1, op: "fire e2 u1", next: 10},
				{at: 2, op: "fire e1 t2", next: 10},
				{at: 3, op: "withdraw t1 t2", rel: "t1 t2", next: 10},
				{at: 10, op: "flush", batch: "firing:e2 | u1", next: -1},
				{at: 11, op: "ok", rel: "u1", next: 611},
			},
		},
		{
			name: "a withdrawn alert gets no repeat and no resolved notice", sendResolved: true,
			steps: []groupStep{
				{at: 0, op: "fire e1 t1", next: 10},
				{at: 10, op: "flush", batch: "firing:e1 | t1", next: -1},
				{at: 11, op: "ok", rel: "t1", next: 611},
				{at: 20, op: "withdraw t1", next: -1},
				{at: 30, op: "resolve e1 t2", rel: "t2", next: -1},
			},
		},
		{
			name: "an alert is withdrawn by its last transition's token", sendResolved: true,
			steps: []groupStep{
				{at: 0, op: "fire e1 t1", next: 10},
				{at: 1, op: "fire e1 u1", next: 10},
				// t1's owner leaves: t1 goes, the alert stays with u1.
				{at: 2, op: "withdraw t1", rel: "t1", next: 10},
				{at: 10, op: "flush", batch: "firing:e1 | u1", next: -1},
				{at: 11, op: "ok", rel: "u1", next: 611},
			},
		},
		{
			name: "a batch in flight keeps its tokens; a failed attempt's are handed back by a withdraw", sendResolved: true,
			steps: []groupStep{
				{at: 0, op: "fire e1 t1", next: 10},
				{at: 10, op: "flush", batch: "firing:e1 | t1", next: -1},
				{at: 11, op: "fire e1 t2", next: -1},
				{at: 12, op: "withdraw t1 t2", rel: "t2", next: -1},
				{at: 13, op: "retry", next: 15},
				{at: 13, op: "withdraw t1 t2", rel: "t1", next: 15},
				{at: 15, op: "flush", batch: "-", next: -1},
			},
		},
		{
			name: "a permanent failure releases the tokens and waits group_interval", sendResolved: true,
			steps: []groupStep{
				{at: 0, op: "fire e1 t1", next: 10},
				{at: 10, op: "flush", batch: "firing:e1 | t1", next: -1},
				{at: 11, op: "fail", rel: "t1", next: 611},
				{at: 20, op: "fire e2 t2", next: 71},
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewGroup[string]("{}:{}", map[string]string{}, timing, tc.sendResolved, t0)
			var last *Batch[string]
			failures := 0
			for i, st := range tc.steps {
				now := t0.Add(time.Duration(st.at) * time.Second)
				f := strings.Fields(st.op)
				var rel []string
				batch := ""
				switch f[0] {
				case "fire", "resolve":
					in := Incoming[string]{Alert: Alert{EpisodeID: f[1], Status: StatusFiring, Fingerprint: "fp-" + f[1]}, Token: f[2]}
					if f[0] == "resolve" {
						in.Alert.Status = StatusResolved
					}
					if len(f) > 3 {
						in.FiringSent = true
						in.ResolvedSent = f[3] == "done"
					}
					rel = g.Add(in, now)
				case "withdraw":
					rel = g.Withdraw(func(tok string) bool { return slices.Contains(f[1:], tok) })
				case "flush":
					if !g.Due(now) {
						t.Fatalf("step %d: flush at %ds but the group is not due", i, st.at)
					}
					last, rel = g.Flush(now)
					batch = describe(last)
				case "ok", "retry", "fail":
					o := map[string]Outcome{"ok": Delivered, "retry": Retry, "fail": Failed}[f[0]]
					if o == Retry {
						failures++
					} else {
						failures = 0
					}
					rel = g.Result(last, o, now, Backoff(failures, 2*time.Second, time.Minute))
				default:
					t.Fatalf("bad op %q", st.op)
				}
				sort.Strings(rel)
				if got := strings.Join(rel, " "); got != st.rel {
					t.Errorf("step %d (%s at %ds): released %q, want %q", i, st.op, st.at, got, st.rel)
				}
				if f[0] == "flush" && batch != st.batch {
					t.Errorf("step %d (%s at %ds): batch %q, want %q", i, st.op, st.at, batch, st.batch)
				}
				next := -1
				if at, ok := g.NextAt(now); ok {
					next = int(at.Sub(t0) / time.Second)
				}
				if next != st.next {
					t.Errorf("step %d (%s at %ds): next at %d, want %d", i, st.op, st.at, next, st.next)
				}
			}
		})
	}
}

func describe(b *Batch[string]) string {
	if b == nil {
		return "-"
	}
	var parts []string
	for _, a := range b.Alerts {
		parts = append(parts, a.Status+":"+a.EpisodeID)
	}
	toks := append([]string(nil), b.Tokens...)
	sort.Strings(toks)
	if b.Repeat {
		toks = append(toks, "repeat")
	}
	return strings.Join(parts, " ") + " | " + strings.Join(toks, " ")
}

// Whatever happens to a group, every token it was given comes back
// exactly once: random scripts of every operation, ended by a Withdraw of
// everything (after the batch in flight, if any, has its result).
func TestGroupHandsEveryTokenBackOnce(t *testing.T) {
	timing := Timing{GroupWait: 10 * time.Second, GroupInterval: 60 * time.Second, RepeatInterval: 600 * time.Second}
	for seed := range uint64(500) {
		rng := rand.New(rand.NewPCG(seed, 1))
		g := NewGroup[int]("k", nil, timing, rng.IntN(2) == 0, t0)
		back := map[int]int{}
		give := func(toks []int) {
			for _, tok := range toks {
				back[tok]++
			}
		}
		owner := func(tok int) int { return tok % 3 }
		var batch *Batch[int]
		now, next := t0, 0
		result := func() {
			give(g.Result(batch, Outcome(rng.IntN(3)), now, time.Duration(rng.IntN(5))*time.Second))
			batch = nil
		}
		for range 60 {
			now = now.Add(time.Duration(rng.IntN(30)) * time.Second)
			switch op := rng.IntN(10); {
			case op < 5:
				in := Incoming[int]{Alert: Alert{EpisodeID: fmt.Sprint("e", rng.IntN(4)), Status: StatusFiring}, Token: next}
				if rng.IntN(3) == 0 {
					in.Alert.Status = StatusResolved
				}
				in.FiringSent, in.ResolvedSent = rng.IntN(4) == 0, rng.IntN(8) == 0
				next++
				give(g.Add(in, now))
			case op < 7 && batch == nil && g.Due(now):
				var rel []int
				batch, rel = g.Flush(now)
				give(rel)
			case op < 8 && batch != nil:
				result()
			case op < 10:
				gone := rng.IntN(3)
				give(g.Withdraw(func(tok int) bool { return owner(tok) == gone }))
			}
		}
		if batch != nil {
			result()
		}
		give(g.Withdraw(func(int) bool { return true }))
		if !g.Empty() {
			t.Fatalf("seed %d: the group is not empty after everything was withdrawn", seed)
		}
		for tok := range next {
			if back[tok] != 1 {
				t.Fatalf("seed %d: token %d handed back %d times", seed, tok, back[tok])
			}
		}
	}
}

func TestBackoff(t *testing.T) {
	for _, c := range []struct {
		n    int
		want time.Duration
	}{{1, time.Second}, {2, 2 * time.Second}, {3, 4 * time.Second}, {6, 30 * time.Second}, {100, 30 * time.Second}} {
		if got := Backoff(c.n, time.Second, 30*time.Second); got != c.want {
			t.Errorf("Backoff(%d) = %s, want %s", c.n, got, c.want)
		}
	}
}

func ExampleBackoff() {
	for n := 1; n <= 5; n++ {
		fmt.Print(Backoff(n, 200*time.Millisecond, 2*time.Second), " ")
	}
	// Output: 200ms 400ms 800ms 1.6s 2s
}
