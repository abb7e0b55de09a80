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

// The time every case's record was received: its event times are judged
// against it.
var testRecordTime = time.Date(2025, 12, 31, 23, 0, 0, 0, time.UTC)

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
			res := Options{}.Parse(rec, testRecordTime)
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
			res := Options{}.Parse(rec, testRecordTime)
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
	res := Options{}.Parse([]byte(rec), testRecordTime)
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
		res := opts.Parse([]byte(rec), testRecordTime)
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
		res := Options{}.Parse(rec, testRecordTime)
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

// kcat makes each line of the original quick start's two-line heredoc a
// record: both lines are refused as pieces of a split event, with the fix;
// other text that is not JSON stays invalid_json.
func TestSplitRecords(t *testing.T) {
	f := func(rec string, want Reason) {
		t.Helper()
		res := Options{}.Parse([]byte(rec), testRecordTime)
		if len(res.Events) != 0 || len(res.Rejected) != 1 || res.Rejected[0].Err.Reason != want || res.Rejected[0].Err.Index != -1 {
			t.Fatalf("%q: %d events, rejections %s, want %s", rec, len(res.Events), rejections(res.Rejected), want)
		}
		if msg := res.Rejected[0].Err.Msg; want == ReasonSplitRecord && !strings.Contains(msg, "put one event on one line, or send a JSON array") {
			t.Fatalf("%q: the error does not say what to do: %s", rec, msg)
		}
	}
	f(`{"tenant_id":"acme","host":"host-a","metric":"cpu_load","value":92,`, ReasonSplitRecord)
	f(` "ts_event":"2025-10-21T10:00:00Z","unit":"percent","tags":{"env":"prod"}}`, ReasonSplitRecord)
	// jq's pretty-printing, line by line.
	for _, line := range []string{`{`, `"tenant_id": "acme",`, `"tags": {`, `"env": "prod"`, `}`, `},`, `]`, `[`, `{"a":[`, `{"a":"\u00`} {
		f(line, ReasonSplitRecord)
	}
	for _, rec := range []string{`not json`, `{"a":1}}`, `{"a" 1`, `"a",`, `92,`, `[1,]`, strings.Repeat("[", 10001)} {
		f(rec, ReasonInvalidJSON)
	}
}

// A sample is judged against its record's time only: more than max_future
// ahead of it is refused with how far ahead it is and the bound; a sample
// without a time takes the record's; the same record at the same record
// time gets the same verdict whenever it is read.
func TestEventTimeAgainstTheRecordTime(t *testing.T) {
	received := testRecordTime
	ahead := received.Add(50 * time.Minute).Format(time.RFC3339)
	rec := `{"tenant_id":"t","host":"h","metric":"m","value":1,"ts_event":"` + received.Add(-time.Second).Format(time.RFC3339) + `"}
{"tenant_id":"t","host":"h","metric":"m","value":2,"ts_event":"` + ahead + `"}
{"tenant_id":"t","host":"h","metric":"m","value":3}
{"tenant_id":"t","host":"h","metric":"m","value":4,"ts_event":"` + received.Add(DefaultMaxFuture).Format(time.RFC3339) + `"}`
	res := Options{}.Parse([]byte(rec), received)
	if len(res.Events) != 3 || len(res.Rejected) != 1 {
		t.Fatalf("%d events, rejections %s", len(res.Events), rejections(res.Rejected))
	}
	rej := res.Rejected[0].Err
	if rej.Reason != ReasonFuture || rej.Index != 1 || !strings.Contains(rej.Msg, "is 50m0s ahead") || !strings.Contains(rej.Msg, "max_future (30s)") {
		t.Fatalf("rejection %v", rej)
	}
	if got := res.Events[1].Sample.TsMicro; got != received.UnixMicro() {
		t.Fatalf("an event without a time got %v, want its record's time", time.UnixMicro(got).UTC())
	}
	if again := (Options{}).Parse([]byte(rec), received); compareResults(again, res) != "" {
		t.Fatalf("a second reading differs: %s", compareResults(again, res))
	}
}

// A record without a time (the broker gave none) is refused: nothing
// bounds its event times, and nothing else may stand in for a missing one.
func TestNoRecordTime(t *testing.T) {
	for _, rec := range []string{`{"tenant_id":"t","host":"h","metric":"m","value":1}`,
		`{"tenant_id":"t","host":"h","metric":"m","value":1,"ts_event":"2025-10-21T10:00:00Z"}`} {
		for _, at := range []time.Time{{}, time.UnixMilli(-1)} {
			res := Options{}.Parse([]byte(rec), at)
			if len(res.Events) != 0 || len(res.Rejected) != 1 || res.Rejected[0].Err.Reason != ReasonNoRecordTime ||
				!strings.Contains(res.Rejected[0].Err.Msg, "LogAppendTime") {
				t.Fatalf("%s at %v: %d events, rejections %s", rec, at, len(res.Events), rejections(res.Rejected))
			}
		}
	}
}

// Event times have millisecond precision everywhere (PostgreSQL's rows, the
// features' samples): two events of a series within one millisecond are
// one event, the first, in both.
func TestEventTimesHaveMillisecondPrecision(t *testing.T) {
	res := Options{}.Parse([]byte(`[{"tenant_id":"t","host":"h","metric":"m","value":1,"ts_event":"2025-10-21T10:00:00.123456Z"},
		{"tenant_id":"t","host":"h","metric":"m","value":2,"ts_event":"2025-10-21T10:00:00.123789Z"}]`), time.Date(2025, 10, 21, 10, 0, 1, 0, time.UTC))
	if len(res.Events) != 2 || res.Events[0].Sample.TsMicro != res.Events[1].Sample.TsMicro ||
		res.Events[0].Sample.TsMicro != time.Date(2025, 10, 21, 10, 0, 0, 123_000_000, time.UTC).UnixMicro() {
		t.Fatalf("events %+v", res.Events)
	}
}
