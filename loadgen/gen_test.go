package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/eventops/eventops/normalize"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func all(o Options) []Record {
	g := NewGenerator(o, t0)
	var out []Record
	for {
		r, ok := g.Next()
		if !ok {
			return out
		}
		out = append(out, r)
	}
}

func TestGeneratorIsDeterministicAndComplete(t *testing.T) {
	o := Options{Tenants: 2, Sources: 3, Metrics: 4, Rounds: 5, Seed: 42, OutOfOrder: 0.2, Jitter: time.Second, PerRecord: 2}
	a, b := all(o), all(o)
	if len(a) != len(b) {
		t.Fatal("two runs differ in length")
	}
	events := 0
	seen := map[[4]int64]bool{}
	for i := range a {
		if !bytes.Equal(a[i].Value, b[i].Value) {
			t.Fatalf("record %d differs", i)
		}
		events += len(a[i].Events)
		for _, ev := range a[i].Events {
			k := [4]int64{int64(ev.Tenant), int64(ev.Source), int64(ev.Metric), ev.Round}
			if seen[k] {
				t.Fatalf("event %v twice", k)
			}
			seen[k] = true
		}
		// Every record is valid input for the ingest stage.
		res := normalize.Options{}.Parse(a[i].Value, t0.Add(time.Hour))
		if len(res.Rejected) != 0 || len(res.Events) != len(a[i].Events) {
			t.Fatalf("record %s: %d events, %v", a[i].Value, len(res.Events), res.Rejected)
		}
	}
	if events != 2*3*4*5 {
		t.Fatalf("%d events, want %d", events, 2*3*4*5)
	}
}

func TestMalformedShareAndAnomalies(t *testing.T) {
	o := Options{Sources: 10, Metrics: 2, Rounds: 100, Malformed: 0.1, Seed: 7,
		Anomalies: []Anomaly{{Source: 3, Metric: 0, From: 10, To: 20, Value: 99}}}
	recs := all(o)
	bad := 0
	for _, r := range recs {
		if r.Malformed {
			bad++
			res := normalize.Options{}.Parse(r.Value, t0)
			if len(res.Events) != 0 {
				t.Fatalf("poison %q was accepted", r.Value)
			}
		}
		for _, ev := range r.Events {
			if ev.Source == 3 && ev.Metric == 0 && ev.Round >= 10 && ev.Round < 20 && ev.Value != 99 {
				t.Fatalf("anomaly not applied: %+v", ev)
			}
		}
	}
	if bad < 100 || bad > 300 {
		t.Fatalf("%d malformed of %d", bad, len(recs))
	}
}

func TestHTTPSinkUnpacksArrays(t *testing.T) {
	var h HTTPSink
	_ = h.Send(context.Background(), Record{Value: []byte(`[{"a":1},{"b":2}]`)})
	lines := bytes.Split(bytes.TrimSpace(h.buf.Bytes()), []byte("\n"))
	if len(lines) != 2 || !json.Valid(lines[0]) || !json.Valid(lines[1]) {
		t.Fatalf("%q", h.buf.Bytes())
	}
}

// With churn, each round's sources slide on: the oldest stop sending and
// as many new names report in their place.
func TestChurnReplacesTheOldestSources(t *testing.T) {
	o := Options{Sources: 4, Metrics: 2, Rounds: 5, Churn: 1.5, Seed: 1}
	rounds := map[int64]map[int]bool{}
	for _, r := range all(o) {
		for _, ev := range r.Events {
			if rounds[ev.Round] == nil {
				rounds[ev.Round] = map[int]bool{}
			}
			rounds[ev.Round][ev.Source] = true
			if want := SourceName(ev.Source); !bytes.Contains(r.Value, []byte(want)) {
				t.Fatalf("record %s is not of %s", r.Value, want)
			}
		}
	}
	var sent int64
	seen := map[int]bool{}
	for _, r := range all(o) {
		sent += int64(len(r.Events))
		for _, ev := range r.Events {
			seen[ev.Source] = true
		}
		if got := o.SourcesSent(sent); got != len(seen) {
			t.Fatalf("after %d events: SourcesSent %d, %d sources reported", sent, got, len(seen))
		}
	}
	for round, first := range map[int64]int{0: 0, 1: 1, 2: 3, 3: 4, 4: 6} {
		got := rounds[round]
		if len(got) != 4 || !got[first] || !got[first+3] {
			t.Errorf("round %d: sources %v, want %d…%d", round, got, first, first+3)
		}
	}
	if err := (Options{Churn: -1}).Validate(); err == nil {
		t.Error("a negative churn accepted")
	}
}
