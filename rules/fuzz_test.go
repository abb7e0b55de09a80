package rules

import (
	"bytes"
	"encoding/hex"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

// FuzzParse: no input makes loading panic, and a rule set that loads can be
// evaluated and stepped on any features without panicking.
func FuzzParse(f *testing.F) {
	paths, _ := filepath.Glob("testdata/*/*.yml")
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("a: &a [*a]"))
	f.Add([]byte("groups: [{name: g, rules: [{alert: A, expr: 'true'}]}]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rs, err := Parse("fuzz.yml", data, Options{})
		if err != nil {
			if _, ok := err.(Errors); !ok {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		ff := fuzzFeatures{}
		var states States
		rs.Advance(&states, Source{Tenant: "t", Host: "h"}, ff, 1000, "", func(*Transition) {})
		rs.Advance(&states, Source{Tenant: "t", Host: "h"}, fuzzFeatures{missing: true}, 2000, "", func(*Transition) {})
		// A source's lifecycle through timers and a reload that retires
		// every rule.
		var lc Lifecycle
		rs.AdvanceAt(&lc, src2, ff, 1000, "", func(*Transition) {})
		rs.AdvanceUntil(&lc, src2, ff, 1000+10*minute, func(*Transition) {})
		n := 0
		noRules.Replacing(rs).AdvanceUntil(&lc, src2, ff, 1000+20*minute, func(tr *Transition) {
			if tr.Reason == "" {
				t.Fatalf("transition without a reason: %+v", tr)
			}
			n++
		})
		if len(lc.Alerts) != 0 {
			t.Fatalf("%d states of retired rules left, %d ended", len(lc.Alerts), n)
		}
	})
}

// noRules is a rule set without rules.
var noRules, _ = Parse("none.yml", []byte("groups: []"), Options{})

// FuzzExpr: any expression text either fails to load with an error or
// evaluates without panicking.
func FuzzExpr(f *testing.F) {
	for _, s := range []string{
		`avg("cpu", "1m") > 90`,
		`seconds_since_last("cpu") > 300 || p99("cpu", "5m") / 0 >= -1`,
		`abs(delta("cpu", "5m")) > 1 ? true : last("cpu") % 2 == 1`,
		`!(zscore("cpu", "15m") > 3) and ewma("cpu", "1m") ** 2 != 4`,
		`1 % 0 == 1`,
		`last("cpu") > 1 ?? 2`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, expr string) {
		src := "metrics: [{name: cpu}]\ngroups: [{name: g, rules: [{alert: A, expr: " + quoteYAML(expr) + "}]}]\n"
		rs, err := Parse("fuzz.yml", []byte(src), Options{})
		if err != nil {
			return
		}
		for r := range rs.Rules() {
			for _, ff := range []fuzzFeatures{{}, {missing: true}, {v: math.Inf(1)}, {v: math.NaN()}, {v: -3}} {
				res := r.Eval(ff, 5000)
				Step(r, src2, State{}, res, 5000)
				NextDeadline(r, State{Phase: Pending}, ff, 5000)
			}
		}
	})
}

var src2 = Source{Tenant: "t", Host: "h"}

func quoteYAML(s string) string {
	var b bytes.Buffer
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f || r == 0xfeff || (r >= 0x80 && r < 0xa0) || r == 0xfffd:
			b.WriteString(`\x20`)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

type fuzzFeatures struct {
	missing bool
	v       float64
}

func (f fuzzFeatures) SeriesCount(string) int { return 1 }

func (f fuzzFeatures) SeriesTags(string, int) []Label { return nil }

func (f fuzzFeatures) Stat(metric string, _ []Label, stat string, window time.Duration, now int64) (float64, bool) {
	return f.v + float64(len(stat)), !f.missing
}

func (f fuzzFeatures) SecondsSinceLast(metric string, _ []Label, now int64) (float64, bool) {
	return f.v, !f.missing
}

// FuzzDecodeLifecycle: DecodeLifecycle never panics; what it accepts
// re-encodes to the same bytes (the encoding is canonical), version 1
// input of older versions as its current encoding.
func FuzzDecodeLifecycle(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{2, 0, 0})
	for _, lc := range sampleLifecycles() {
		b, _ := lc.AppendBinary(nil)
		f.Add(b)
	}
	for _, h := range version1States {
		b, _ := hex.DecodeString(h)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		lc, err := DecodeLifecycle(b)
		if err != nil || len(b) == 0 {
			return
		}
		out, err := lc.AppendBinary(nil)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		if b[0] != currentVersion {
			again, err := DecodeLifecycle(out)
			if err != nil || !lifecyclesEqual(again, lc) {
				t.Fatalf("version %d input re-decodes as %+v, %v", b[0], again, err)
			}
			return
		}
		if !bytes.Equal(out, b) {
			t.Fatalf("re-encoding differs:\n in %x\nout %x", b, out)
		}
	})
}

// FuzzStatesRoundTrip: any states built with Set survive encode and decode.
func FuzzStatesRoundTrip(f *testing.F) {
	f.Add(uint64(1), uint8(1), int64(0), int64(0), true, int64(0), int64(0), 1.5, uint64(7), uint64(2), uint8(2), int64(5), "host", "HighCPU", "severity", "critical")
	f.Add(uint64(math.MaxUint64), uint8(2), int64(math.MinInt64), int64(math.MaxInt64), false, int64(-1), int64(1), math.NaN(), uint64(0), uint64(0), uint8(0), int64(math.MaxInt64), "", "", "", "")
	f.Fuzz(func(t *testing.T, id uint64, phase uint8, active, firing int64, clearing bool, clearSince, lastSent int64, value float64, episode uint64, id2 uint64, phase2 uint8, at int64, group, name, label, labelValue string) {
		var lc Lifecycle
		lc.at, lc.evaluated = at, at != 0
		var ident *Identity
		if group != "" && name != "" {
			ident = &Identity{Group: group, Name: name}
			if label != "" {
				ident.Labels = []Label{{label, labelValue}}
			}
		}
		lc.Alerts.Set(RuleID(id), State{Phase: Phase(phase % 3), ActiveSince: active, FiringSince: firing, Clearing: clearing,
			ClearSince: clearSince, LastSent: lastSent, Value: value, Episode: episode, Identity: ident})
		lc.Alerts.Set(RuleID(id2), State{Phase: Phase(phase2 % 3), ActiveSince: firing, Value: -value})
		b, err := lc.AppendBinary([]byte("prefix"))
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecodeLifecycle(b[len("prefix"):])
		if err != nil {
			t.Fatalf("decode: %v", err)
		}
		if !lifecyclesEqual(got, lc) {
			t.Fatalf("round trip:\n got %+v\nwant %+v", got, lc)
		}
	})
}

// lifecyclesEqual compares what a Lifecycle encodes.
func lifecyclesEqual(a, b Lifecycle) bool {
	return a.at == b.at && a.evaluated == b.evaluated && statesEqual(a.Alerts, b.Alerts)
}

// statesEqual compares states, NaN values by bits.
func statesEqual(a, b States) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if math.Float64bits(x.Value) != math.Float64bits(y.Value) {
			return false
		}
		x.Value, y.Value = 0, 0
		if !reflect.DeepEqual(x, y) {
			return false
		}
	}
	return true
}
