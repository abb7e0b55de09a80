package normalize

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files of testdata/good")

// The clock of every case: event times are judged against it.
var (
	testNow        = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	testRecordTime = time.Date(2025, 12, 31, 23, 0, 0, 0, time.UTC)
)

type goldenEvent struct {
	Tenant, Host, Metric, Unit string
	Value                      float64
	Ts                         time.Time
	Tags                       map[string]string
}

// Each testdata/good/NAME.json parses without rejections into the events of
// NAME.golden (go test -run TestGoodRecords -update rewrites them).
func TestGoodRecords(t *testing.T) {
	files, _ := filepath.Glob("testdata/good/*.json")
	if len(files) == 0 {
		t.Fatal("no good cases")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			rec, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			res := Options{}.Parse(rec, testRecordTime, testNow)
			if len(res.Rejected) != 0 {
				t.Fatalf("rejected: %v", res.Rejected[0].Err)
			}
			var got []goldenEvent
			for _, ev := range res.Events {
				got = append(got, goldenEvent{ev.Tenant, ev.Host, ev.Sample.Metric, ev.Sample.Unit, ev.Sample.Value,
					time.UnixMicro(ev.Sample.TsMicro).UTC(), ev.Sample.Tags.Map()})
			}
			b, _ := json.MarshalIndent(got, "", "  ")
			golden := strings.TrimSuffix(f, ".json") + ".golden"
			if *update {
				if err := os.WriteFile(golden, append(b, '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if strings.TrimSpace(string(want)) != string(b) {
				t.Fatalf("got\n%s\nwant\n%s", b, want)
			}
		})
	}
}

// Each testdata/bad/REASON__what.json is rejected as a whole with REASON.
func TestBadRecords(t *testing.T) {
	files, _ := filepath.Glob("testdata/bad/*.json")
	if len(files) < 20 {
		t.Fatalf("only %d bad cases", len(files))
	}
	known := map[Reason]bool{}
	for _, r := range Reasons() {
		known[r] = true
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			want := Reason(strings.SplitN(filepath.Base(f), "__", 2)[0])
			if !known[want] {
				t.Fatalf("file name names no reason: %s", want)
			}
			rec, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			res := Options{}.Parse(rec, testRecordTime, testNow)
			if len(res.Events) != 0 || len(res.Rejected) != 1 {
				t.Fatalf("%d events, %d rejections", len(res.Events), len(res.Rejected))
			}
			if got := res.Rejected[0].Err; got.Reason != want || got.Msg == "" {
				t.Fatalf("got %v, want reason %s", got, want)
			}
			if string(res.Rejected[0].Raw) != string(rec) {
				t.Fatalf("rejection carries %q, not the record", res.Rejected[0].Raw)
			}
		})
	}
}

func TestEachEventOfARecordIsJudgedAlone(t *testing.T) {
	rec := `[{"tenant_id":"t","host":"h","metric":"m","value":1},{"tenant_id":"t","host":"h","metric":"m","value":"x"},{"tenant_id":"t","host":"h","metric":"m","value":3}]`
	res := Options{}.Parse([]byte(rec), testRecordTime, testNow)
	if len(res.Events) != 2 || len(res.Rejected) != 1 {
		t.Fatalf("%d events, %d rejections", len(res.Events), len(res.Rejected))
	}
	rej := res.Rejected[0]
	if rej.Err.Index != 1 || rej.Err.Reason != ReasonWrongType || string(rej.Raw) != `{"tenant_id":"t","host":"h","metric":"m","value":"x"}` {
		t.Fatalf("rejection %+v %s", rej.Err, rej.Raw)
	}
	if res.Events[0].Sample.Value != 1 || res.Events[1].Sample.Value != 3 {
		t.Fatalf("events %+v", res.Events)
	}
}

func TestLimits(t *testing.T) {
	opts := Options{MaxRecordBytes: 64, MaxEvents: 2}
	f := func(rec string, want Reason) {
		t.Helper()
		res := opts.Parse([]byte(rec), testRecordTime, testNow)
		if len(res.Rejected) != 1 || res.Rejected[0].Err.Reason != want {
			t.Errorf("%q: %+v", rec, res.Rejected)
		}
	}
	f(`{"tenant_id":"t","host":"h","metric":"m","value":1,"pad":"`+strings.Repeat("x", 64)+`"}`, ReasonTooLarge)
	f(`[{"a":1},{"a":2},{"a":3}]`, ReasonTooLarge)
}

func TestUnitAndMetricNames(t *testing.T) {
	for in, want := range map[string]string{"%": "percent", "PCT": "percent", " msec ": "ms", "Bytes": "bytes", "furlongs": "furlongs"} {
		if got := Unit(in); got != want {
			t.Errorf("Unit(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{"CPU.Load": "cpu_load", "disk-used pct": "disk_used_pct", "a/b": "a_b"} {
		if got := MetricName(in); got != want {
			t.Errorf("MetricName(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*/*.json")
	for _, p := range files {
		b, _ := os.ReadFile(p)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, rec []byte) {
		res := Options{}.Parse(rec, testRecordTime, testNow)
		for _, ev := range res.Events {
			if ev.Tenant == "" || ev.Host == "" || ev.Sample.Metric == "" || strings.Contains(ev.Tenant, "/") {
				t.Fatalf("accepted a bad event %+v", ev)
			}
		}
		for _, r := range res.Rejected {
			if r.Err == nil || r.Err.Reason == "" {
				t.Fatal("rejection without a reason")
			}
		}
	})
}
