package features

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

type pt struct {
	ts int64
	v  float64
}

func seriesOf(t *testing.T, cfg Config, pts ...pt) *Series {
	t.Helper()
	s := NewSeries(cfg)
	for _, p := range pts {
		if o, err := s.Add(p.ts, p.v); err != nil || o != Applied {
			t.Fatalf("Add(%d, %v) = %v, %v", p.ts, p.v, o, err)
		}
	}
	return s
}

func TestEdgeCases(t *testing.T) {
	const t0 = baseTs
	counter := DefaultConfig()
	counter.Counter = true
	type want struct {
		window time.Duration
		stat   string
		v      float64
		ok     bool
	}
	cases := []struct {
		name string
		cfg  Config
		pts  []pt
		want []want
	}{
		{
			name: "one point",
			pts:  []pt{{t0, 92}},
			want: []want{
				{time.Minute, "count", 1, true}, {time.Minute, "avg", 92, true}, {time.Hour, "sum", 92, true},
				{time.Minute, "stddev", 0, true}, {time.Minute, "min", 92, true}, {time.Minute, "max", 92, true},
				{time.Minute, "first", 92, true}, {time.Minute, "last", 92, true}, {time.Minute, "delta", 0, true},
				{time.Minute, "rate", 0, false}, {time.Minute, "zscore", 0, false}, {time.Minute, "increase", 0, false},
				{time.Minute, "p50", 92, true}, {time.Minute, "p99", 92, true},
				{time.Minute, "ewma", 92, true}, {time.Minute, "ewmvar", 0, true},
			},
		},

		{
			name: "slope of a line",
			pts:  []pt{{t0, 10}, {t0 + 1000, 12}, {t0 + 2000, 14}, {t0 + 3000, 16}},
			want: []want{{time.Minute, "rate", 2, true}, {time.Minute, "delta", 6, true}},
		},
		{
			name: "gap longer than every window: old state expires",
			pts:  []pt{{t0, 5}, {t0 + 1000, 7}, {t0 + 3*time.Hour.Milliseconds(), 1}},
			want: []want{
				{time.Hour, "count", 1, true}, {time.Hour, "first", 1, true}, {time.Minute, "count", 1, true},
			},
		},
		{
			name: "gap of 10 minutes: 1m and 5m hold the new sample only, 15m both",
			pts:  []pt{{t0, 5}, {t0 + 10*time.Minute.Milliseconds(), 7}},
			want: []want{
				{time.Minute, "count", 1, true}, {5 * time.Minute, "count", 1, true},
				{15 * time.Minute, "count", 2, true}, {15 * time.Minute, "first", 5, true},
			},
		},
		{
			name: "counter reset: the new value counts as increase",
			cfg:  counter,
			// 10 s apart: 100 -> 160 -> 20 (reset) -> 50: raw increase 60+20+30 = 110
			pts: []pt{{t0, 100}, {t0 + 10_000, 160}, {t0 + 20_000, 20}, {t0 + 30_000, 50}},
			want: []want{
				// PromQL: first sample 30 s before the end of a 60 s range,
				// average spacing 10 s, so extrapolate 5 s to the start:
				// 110 * 35/30.
				{time.Minute, "increase", 110 * 35.0 / 30, true},
				{time.Minute, "counter_rate", 110 * 35.0 / 30 / 60, true},
			},
		},
		{
			name: "counter out of order within lateness",
			cfg:  counter,
			pts:  []pt{{t0, 100}, {t0 + 20_000, 20}, {t0 + 30_000, 50}, {t0 + 10_000, 160}},
			want: []want{{time.Minute, "increase", 110 * 35.0 / 30, true}, {time.Minute, "first", 100, true}, {time.Minute, "last", 50, true}},
		},
		{
			name: "gauge has no counter features",
			pts:  []pt{{t0, 1}, {t0 + 1000, 2}},
			want: []want{{time.Minute, "increase", 0, false}, {time.Minute, "counter_rate", 0, false}},
		},
		{
			name: "negative values",
			pts:  []pt{{t0, -5}, {t0 + 1000, -15}, {t0 + 2000, -10}},
			want: []want{
				{time.Minute, "min", -15, true}, {time.Minute, "max", -5, true}, {time.Minute, "avg", -10, true},
				{time.Minute, "p50", -10, true}, {time.Minute, "rate", -2.5, true},
			},
		},
		{
			name: "huge magnitudes",
			pts:  []pt{{t0, 1e300}, {t0 + 1000, 3e300}},
			want: []want{
				{time.Minute, "sum", 4e300, true}, {time.Minute, "avg", 2e300, true}, {time.Minute, "max", 3e300, true},
				{time.Minute, "rate", 2e300, true}, {time.Minute, "p99", 1e300, true}, // rank floor(0.99*(2-1)) = 0
			},
		},
		{
			name: "tiny magnitudes",
			pts:  []pt{{t0, 1e-300}, {t0 + 1000, 3e-300}},
			want: []want{
				{time.Minute, "sum", 4e-300, true}, {time.Minute, "min", 1e-300, true}, {time.Minute, "p50", 1e-300, true},
			},
		},
		{
			name: "zero values",
			pts:  []pt{{t0, 0}, {t0 + 1000, 0}, {t0 + 2000, -0.0}},
			want: []want{{time.Minute, "p50", 0, true}, {time.Minute, "stddev", 0, true}, {time.Minute, "zscore", 0, false}},
		},
		{
			name: "unknown names and windows",
			pts:  []pt{{t0, 1}},
			want: []want{{2 * time.Minute, "avg", 0, false}, {time.Minute, "median", 0, false}, {2 * time.Minute, "ewma", 0, false}},
		},
		{
			name: "seconds since last",
			pts:  []pt{{t0, 1}},
			want: []want{{0, "seconds_since_last", 90, true}},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := seriesOf(t, c.cfg, c.pts...)
			for _, w := range c.want {
				got, ok := s.Stat(w.stat, w.window, c.pts[len(c.pts)-1].ts+90_000)
				tol := 1e-12 * math.Abs(w.v)
				if w.stat[0] == 'p' {
					tol = SketchRelativeError * math.Abs(w.v)
				}
				if ok != w.ok || math.Abs(got-w.v) > tol {
					t.Errorf("Stat(%s, %s) = %v, %v; want %v, %v", w.stat, w.window, got, ok, w.v, w.ok)
				}
			}
			roundTrip(t, s)
		})
	}
}

func TestHugeMagnitudeStddevOverflows(t *testing.T) {
	// Documented: squares of |v| > ~1e154 overflow, so stddev and z-score
	// are +Inf / not available there; every other feature stays exact.
	s := seriesOf(t, Config{}, pt{baseTs, 1e300}, pt{baseTs + 1000, 3e300})
	w, _ := s.Window(time.Minute)
	if !math.IsInf(w.Stddev, 1) {
		t.Fatalf("stddev = %v, want +Inf", w.Stddev)
	}
	if _, ok := s.Stat("zscore", time.Minute, 0); ok {
		t.Fatal("zscore available with an infinite stddev")
	}
	if _, err := json.Marshal(s.Snapshot(baseTs)); err != nil {
		t.Fatalf("snapshot with Inf does not marshal: %v", err)
	}
}

func TestAddRejects(t *testing.T) {
	s := seriesOf(t, Config{}, pt{baseTs, 1})
	for _, v := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		o, err := s.Add(baseTs+1, v)
		if o != Rejected || !errors.Is(err, ErrNotFinite) || o.Reason() != ReasonInvalid {
			t.Errorf("Add(%v) = %v, %v", v, o, err)
		}
	}
	if o, err := s.Add(maxAbsTs+1, 1); o != Rejected || !errors.Is(err, ErrTimestampOutside) {
		t.Errorf("Add at a huge ts = %v, %v", o, err)
	}
	if w, _ := s.Window(time.Minute); w.Count != 1 {
		t.Fatalf("rejected samples were folded in: count %d", w.Count)
	}
}

func TestTooLate(t *testing.T) {
	s := seriesOf(t, Config{}, pt{baseTs, 1}, pt{baseTs + 120_000, 2})
	before := s.AppendBinary(nil)
	// Exactly at the bound is accepted; 1 ms older is too late.
	o, err := s.Add(baseTs+120_000-60_001, 100)
	if o != TooLate || err != nil || o.Reason() != ReasonTooLate || ReasonTooLate != "too_late" {
		t.Fatalf("Add beyond lateness = %v (%q), %v", o, o.Reason(), err)
	}
	if string(s.AppendBinary(nil)) != string(before) {
		t.Fatal("a too-late sample changed the state")
	}
	if o, _ := s.Add(baseTs+120_000-60_000, 100); o != Applied {
		t.Fatalf("Add at the lateness bound = %v", o)
	}
	// (newest - 1m, newest] is left-open: the sample at the bound is in 5m, not 1m.
	if w, _ := s.Window(time.Minute); w.Count != 1 {
		t.Fatalf("1m window: %+v", w)
	}
	if w, _ := s.Window(5 * time.Minute); w.Count != 3 || w.First != 1 || w.Max != 100 {
		t.Fatalf("late sample not placed: %+v", w)
	}
}

func TestFarFutureJump(t *testing.T) {
	s := NewSeries(Config{})
	for i := int64(0); i < 500; i++ {
		s.Add(baseTs+i*100, float64(i))
	}
	// A jump of a century: everything expires, nothing panics or grows.
	if o, err := s.Add(baseTs+100*365*24*time.Hour.Milliseconds(), 7); o != Applied || err != nil {
		t.Fatalf("jump: %v, %v", o, err)
	}
	w, _ := s.Window(time.Hour)
	if w.Count != 1 || w.Last != 7 {
		t.Fatalf("after jump: %+v", w)
	}
	if n := len(s.AppendBinary(nil)); n > 64 {
		t.Fatalf("state after jump is %d bytes", n)
	}
	if o, _ := s.Add(-maxAbsTs, 1); o != TooLate {
		t.Fatalf("sample far in the past: %v", o)
	}
}

func TestEWMAHalfLife(t *testing.T) {
	s := seriesOf(t, Config{HalfLives: []time.Duration{time.Minute}}, pt{baseTs, 0}, pt{baseTs + 60_000, 10})
	// Weights 1/2 and 1: mean = 10/(1.5).
	e := s.EWMA()
	if len(e) != 1 || math.Abs(e[0].Mean-10/1.5) > 1e-12 {
		t.Fatalf("ewma = %+v", e)
	}
	// Order does not matter.
	s2 := seriesOf(t, Config{HalfLives: []time.Duration{time.Minute}}, pt{baseTs + 60_000, 10}, pt{baseTs, 0})
	if e2 := s2.EWMA(); math.Abs(e2[0].Mean-e[0].Mean) > 1e-12 || math.Abs(e2[0].Variance-e[0].Variance) > 1e-9 {
		t.Fatalf("out-of-order ewma %+v vs %+v", e2, e)
	}
	if len(NewSeries(Config{HalfLives: []time.Duration{}}).ewmas) != 0 {
		t.Fatal("empty HalfLives should disable EWMA")
	}
}

func TestConfigValidate(t *testing.T) {
	ok := []Config{{}, DefaultConfig(), {Windows: []time.Duration{time.Minute, 2 * time.Minute}}, {Windows: []time.Duration{time.Hour}, Lateness: time.Second}}
	for _, c := range ok {
		if err := c.Validate(); err != nil {
			t.Errorf("%+v: %v", c, err)
		}
	}
	bad := map[string]Config{
		"not ascending":         {Windows: []time.Duration{5 * time.Minute, time.Minute}},
		"width not a multiple":  {Windows: []time.Duration{time.Minute, 90 * time.Second}},
		"not a multiple of 30":  {Windows: []time.Duration{time.Second + time.Millisecond}},
		"lateness above window": {Lateness: 2 * time.Minute},
		"negative lateness":     {Lateness: -time.Second},
		"bad half-life":         {HalfLives: []time.Duration{0}},
		"too many windows":      {Windows: make([]time.Duration, 9)},
		"empty windows":         {Windows: []time.Duration{}},
		"window too long":       {Windows: []time.Duration{60 * 24 * time.Hour}},
	}
	for name, c := range bad {
		if err := c.Validate(); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestWindowLabels(t *testing.T) {
	for d, label := range map[time.Duration]string{
		time.Minute: "1m", 5 * time.Minute: "5m", 15 * time.Minute: "15m", time.Hour: "1h",
		90 * time.Second: "1m30s", 24 * time.Hour: "1d", 500 * time.Millisecond: "500ms",
	} {
		if got := WindowLabel(d); got != label {
			t.Errorf("WindowLabel(%s) = %q, want %q", d, got, label)
		}
		if back, err := ParseWindow(label); err != nil || back != d {
			t.Errorf("ParseWindow(%q) = %s, %v", label, back, err)
		}
	}
	for _, bad := range []string{"", "x", "-1m", "d", "1d-1h"} {
		if _, err := ParseWindow(bad); err == nil {
			t.Errorf("ParseWindow(%q) accepted", bad)
		}
	}
}

func TestSnapshotJSON(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Counter = true
	s := seriesOf(t, cfg, pt{baseTs, 90}, pt{baseTs + 10_000, 92})
	b, err := json.Marshal(s.Snapshot(baseTs + 15_000))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"last":{"ts":1700000010000,"value":92}`, `"1m":{"count":2,"sum":182,"avg":91`, `"seconds_since_last":5`, `"quantiles":{"15m":{"p50":`, `"ewma":{"10m":{"mean":`, `"increase":`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("snapshot lacks %s:\n%s", want, b)
		}
	}
	empty, _ := json.Marshal(NewSeries(Config{}).Snapshot(0))
	if !strings.Contains(string(empty), `"last":null`) {
		t.Errorf("empty snapshot: %s", empty)
	}
	if len(StatNames()) != 19 {
		t.Errorf("StatNames: %v", StatNames())
	}
	for _, name := range StatNames() {
		w := time.Minute
		if _, ok := s.Stat(name, w, baseTs); !ok && name != StatZScore {
			t.Errorf("Stat(%s) not available", name)
		}
	}
}

func TestDecodeRejects(t *testing.T) {
	s := seriesOf(t, Config{}, pt{baseTs, 1}, pt{baseTs + 1000, 2.5})
	enc := s.AppendBinary(nil)
	for i := 0; i < len(enc); i++ {
		if _, _, err := DecodeSeries(Config{}, enc[:i]); err == nil {
			t.Errorf("truncated at %d of %d accepted", i, len(enc))
		}
	}
	other := Config{Counter: true}
	if _, _, err := DecodeSeries(other, enc); !errors.Is(err, ErrConfigMismatch) {
		t.Errorf("other config: %v", err)
	}
	bad := append([]byte(nil), enc...)
	bad[0] = 9
	if _, _, err := DecodeSeries(Config{}, bad); !errors.Is(err, ErrCorrupt) {
		t.Errorf("bad version: %v", err)
	}
	// Concatenation: rest is returned.
	two := s.AppendBinary(s.AppendBinary(nil))
	_, rest, err := DecodeSeries(Config{}, two)
	if err != nil || string(rest) != string(enc) {
		t.Fatalf("concatenated: %v, rest %d bytes", err, len(rest))
	}
}

// checkInvariants verifies the state's structure: level ranges fit their
// rings and tile time without gaps, raw samples are sorted and counted in
// exactly their bucket, and no slot outside a range holds data.
func checkInvariants(t *testing.T, s *Series) {
	t.Helper()
	if !s.has {
		return
	}
	for i := range s.levels {
		lv := &s.levels[i]
		if lv.hi-lv.lo > int64(lv.nslots) || lv.hi < lv.lo {
			t.Fatalf("level %d range [%d,%d) exceeds ring %d", i, lv.lo, lv.hi, lv.nslots)
		}
		if (lv.slots == nil) != (lv.aggs == 0) {
			t.Fatalf("level %d: %d aggregates, ring allocated: %v", i, lv.aggs, lv.slots != nil)
		}
		if i > 0 && lv.hi*lv.width != s.levels[i-1].lo*s.levels[i-1].width {
			t.Fatalf("level %d does not end where level %d starts", i, i-1)
		}
		live := 0
		for j := lv.lo; j < lv.hi; j++ {
			if b := lv.slot(j); b.agg != nil {
				live++
			}
		}
		all := 0
		for _, b := range lv.slots {
			if b.agg != nil {
				all++
			}
		}
		if all != live {
			t.Fatalf("level %d: %d slots hold data outside the range", i, all-live)
		}
	}
	sets := 0
	for _, b := range s.levels[0].slots {
		if b.agg != nil && b.agg.times != nil {
			sets++
		}
	}
	if sets != s.times {
		t.Fatalf("%d time sets, counted %d", sets, s.times)
	}
	counts := map[[2]int64]int32{}
	raw := s.rawFrom(s.raw.head)
	for k, r := range raw {
		if k > 0 && raw[k-1].ts > r.ts {
			t.Fatalf("raw samples out of order at %d", k)
		}
		found := false
		for i := range s.levels {
			lv := &s.levels[i]
			if r.ts >= lv.lo*lv.width && r.ts < lv.hi*lv.width {
				b := lv.slot(floorDiv(r.ts, lv.width))
				if b.agg != nil {
					t.Fatalf("raw sample in an aggregated bucket")
				}
				counts[[2]int64{int64(i), floorDiv(r.ts, lv.width)}]++
				found = true
			}
		}
		if !found {
			t.Fatalf("raw sample at %d outside every level", r.ts)
		}
	}
	for i := range s.levels {
		lv := &s.levels[i]
		for j := lv.lo; j < lv.hi; j++ {
			b := lv.slot(j)
			if n := counts[[2]int64{int64(i), j}]; n > rawPerBucket {
				t.Fatalf("level %d bucket %d: %d raw samples", i, j, n)
			}
			if a := b.agg; a != nil {
				start := j * lv.width
				if a.n <= rawPerBucket || a.firstTs < start || a.lastTs >= start+lv.width || a.firstTs > a.lastTs {
					t.Fatalf("level %d bucket %d: bad aggregate %+v", i, j, *a)
				}
				if a.times != nil {
					if i != 0 || j < s.horizon(s.newest) {
						t.Fatalf("level %d bucket %d: a time set out of the lateness horizon", i, j)
					}
					checkTimes(t, a.times, a, start, lv.width)
				}
			}
		}
	}
}

// checkTimes verifies a time set against its aggregate: exactly n times,
// from firstTs to lastTs, in the form the set implies.
func checkTimes(t *testing.T, ts *timeSet, a *agg, start, width int64) {
	t.Helper()
	offs := timeOffsets(ts)
	if int64(len(offs)) != a.n || offs[0] != a.firstTs-start || offs[len(offs)-1] != a.lastTs-start {
		t.Fatalf("time set of %d times in [%d, %d], aggregate of %d in [%d, %d]", len(offs), offs[0], offs[len(offs)-1], a.n, a.firstTs-start, a.lastTs-start)
	}
	if want := listBytes(offs) > bitmapBytes(width); ts.bitmap != want {
		t.Fatalf("time set of %d times as bitmap=%v, want %v", len(offs), ts.bitmap, want)
	}
	if ts.count() != a.n {
		t.Fatalf("time set counts %d, holds %d", ts.count(), len(offs))
	}
}

// timeOffsets lists a time set's offsets in increasing order.
func timeOffsets(ts *timeSet) []int64 {
	var out []int64
	if ts.bitmap {
		for o := int64(0); o < int64(len(ts.b))*8; o++ {
			if ts.b[o>>3]&(1<<(o&7)) != 0 {
				out = append(out, o)
			}
		}
		return out
	}
	cur := int64(-1)
	for p := 0; p < len(ts.b); {
		u, n := binary.Uvarint(ts.b[p:])
		p += n
		cur += int64(u) + 1
		out = append(out, cur)
	}
	return out
}

// listBytes is the size of the list form of increasing offsets.
func listBytes(offs []int64) int {
	n, prev := 0, int64(-1)
	for _, o := range offs {
		n += len(binary.AppendUvarint(nil, uint64(o-prev-1)))
		prev = o
	}
	return n
}

func TestAddDoesNotAllocate(t *testing.T) {
	for _, interval := range []int64{10_000, 100, 3} {
		s := NewSeries(Config{})
		ts := baseTs
		add := func() {
			ts += interval
			s.Add(ts, float64(ts%1000)/10)
			s.Add(ts-30_001, 1) // late, within the bound
			s.Add(ts-20_000, 2) // a resend
		}
		for i := 0; i < 100_000; i++ {
			add()
		}
		if n := testing.AllocsPerRun(10_000, add); n != 0 {
			t.Errorf("interval %d ms: %v allocations per Add", interval, n)
		}
	}
}

func TestQuantilesWithCollapsedBins(t *testing.T) {
	// Values over 12 decades and both signs, 50 per second: every bucket
	// aggregates and collapses its sketch. Quantiles lose the 2% bound for
	// the smallest magnitudes only; they stay ordered and inside [min, max],
	// and p99 (a top bin) keeps the bound.
	s := NewSeries(Config{})
	var vals []float64
	for i := int64(0); i < 3000; i++ {
		v := math.Pow(10, float64(i%13)-6)
		if i%3 == 0 {
			v = -v
		}
		s.Add(baseTs+i*20, v)
		vals = append(vals, v)
	}
	w, _ := s.Window(time.Minute)
	if !(w.Min <= w.P50 && w.P50 <= w.P95 && w.P95 <= w.P99 && w.P99 <= w.Max) {
		t.Fatalf("quantiles out of order: %+v", w)
	}
	sorted := append([]float64(nil), vals...)
	slices.Sort(sorted)
	if x := exactQuantile(sorted, 0.99); math.Abs(w.P99-x) > SketchRelativeError*math.Abs(x) {
		t.Fatalf("p99 = %v, exact %v", w.P99, x)
	}
}
