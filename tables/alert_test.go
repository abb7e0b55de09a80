package tables

import (
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/eventops/eventops/features"
	"github.com/eventops/eventops/rules"
)

func sampleTransition() *rules.Transition {
	end := rules.Timestamp(1761041100000)
	return &rules.Transition{
		AlertName: "HighCPU", RuleID: 0x1234abcd5678ef00, Group: "hosts", Tenant: "acme", Host: "host-a",
		State: rules.StateResolved, Resend: true, Severity: "critical",
		Labels:      map[string]string{"alertname": "HighCPU", "tenant": "acme", "host": "host-a", "severity": "critical", "core": "0"},
		Tags:        map[string]string{"core": "0"},
		Annotations: map[string]string{"summary": "cpu of host-a is high"},
		Value:       92.5,
		Features:    map[string]features.Float{"avg(cpu_load,5m)": 92.5, "max(cpu_load,5m)": 99},
		ActiveAt:    1761040800000, StartsAt: 1761040920000, EndsAt: &end,
		EpisodeID: "00000000000000e1", At: 1761041100000, Reason: rules.ReasonRuleChanged, Shadow: true,
	}
}

func TestAlertRoundTrip(t *testing.T) {
	in := sampleTransition()
	v, err := EncodeAlert(in)
	if err != nil {
		t.Fatal(err)
	}
	// The record is the transition's JSON, as users automate from it.
	if want, _ := json.Marshal(in); string(v) != string(want) {
		t.Fatalf("encoded\n%s\nwant\n%s", v, want)
	}
	out, err := DecodeAlert(v)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, out) {
		t.Fatalf("round trip:\n in %+v\nout %+v", in, out)
	}
	// A shadow rule's transition says so in the record; a live one's record
	// has no shadow key, as before the mode existed.
	if !strings.Contains(string(v), `"shadow":true`) {
		t.Fatalf("shadow transition record: %s", v)
	}
	live := sampleTransition()
	live.Shadow = false
	if v, err := EncodeAlert(live); err != nil || strings.Contains(string(v), `"shadow"`) {
		t.Fatalf("live transition record: %s %v", v, err)
	}
	// A value that is not a finite number travels as null and comes back NaN.
	in.Value = features.Float(math.Inf(1))
	if v, err = EncodeAlert(in); err != nil || !strings.Contains(string(v), `"value":null`) {
		t.Fatalf("%s %v", v, err)
	}
	if out, err = DecodeAlert(v); err != nil || !math.IsNaN(float64(out.Value)) {
		t.Fatalf("%+v %v", out, err)
	}
}

// Every value in testdata/alert-bad is refused, with an error that names
// what is wrong; the readers of ops.alert.v1 test that they refuse the same
// files with the same errors.
func TestDecodeAlertRefuses(t *testing.T) {
	files, err := filepath.Glob("testdata/alert-bad/*.json")
	if err != nil || len(files) < 10 {
		t.Fatalf("%d files, %v", len(files), err)
	}
	want := map[string]string{
		"not-json.json":      "not an alert transition: invalid character 'o' in literal null (expecting 'u')",
		"null.json":          "not an alert transition: no episode_id",
		"no-episode.json":    "not an alert transition: no episode_id",
		"no-tenant.json":     "not an alert transition: no tenant or host",
		"no-host.json":       "not an alert transition: no tenant or host",
		"no-state.json":      `not an alert transition: state "" is not pending, firing, resolved or inactive`,
		"unknown-state.json": `not an alert transition: state "exploded" is not pending, firing, resolved or inactive`,
		"bad-time.json":      `not an alert transition: timestamp: parsing time "yesterday" as "2006-01-02T15:04:05.999999999Z07:00": cannot parse "yesterday" as "2006"`,
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		tr, err := DecodeAlert(data)
		if !errors.Is(err, ErrBadAlert) || tr != nil {
			t.Errorf("%s: %+v, %v", f, tr, err)
			continue
		}
		if w, ok := want[filepath.Base(f)]; ok && err.Error() != w {
			t.Errorf("%s: %v, want %s", f, err, w)
		}
	}
}

// What a reader would refuse is not written.
func TestEncodeAlertRefusesWhatDecodeRefuses(t *testing.T) {
	for _, edit := range []func(*rules.Transition){
		func(tr *rules.Transition) { tr.EpisodeID = "" },
		func(tr *rules.Transition) { tr.Tenant = "" },
		func(tr *rules.Transition) { tr.Host = "" },
		func(tr *rules.Transition) { tr.State = "" },
		func(tr *rules.Transition) { tr.State = "exploded" },
	} {
		tr := sampleTransition()
		edit(tr)
		v, err := EncodeAlert(tr)
		if !errors.Is(err, ErrBadAlert) || v != nil {
			t.Errorf("%+v: %s, %v", tr, v, err)
		}
		if _, derr := DecodeAlert(mustJSON(t, tr)); derr == nil || derr.Error() != err.Error() {
			t.Errorf("decode says %v, encode %v", derr, err)
		}
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Annotations rendered long are cut so that the record fits; if cutting
// each is not enough, they are replaced by one that says so.
func TestEncodeAlertBoundsTheRecord(t *testing.T) {
	tr := sampleTransition()
	tr.Annotations = map[string]string{"summary": strings.Repeat("s", 300<<10), "runbook": "short"}
	v, err := EncodeAlert(tr)
	if err != nil || len(v) > MaxAlertRecord {
		t.Fatalf("%d bytes, %v", len(v), err)
	}
	out, err := DecodeAlert(v)
	if err != nil || out.Annotations["summary"] != strings.Repeat("s", 1<<10)+"… (cut)" || out.Annotations["runbook"] != "short" {
		t.Fatalf("%v %.80v", err, out.Annotations)
	}

	tr = sampleTransition()
	tr.Annotations = map[string]string{}
	for i := range 300 {
		tr.Annotations[strings.Repeat("k", 1000)+string(rune('a'+i%26))+strings.Repeat("x", i)] = strings.Repeat("v", 1000)
	}
	v, err = EncodeAlert(tr)
	if err != nil || len(v) > MaxAlertRecord {
		t.Fatalf("%d bytes, %v", len(v), err)
	}
	if out, err = DecodeAlert(v); err != nil || len(out.Annotations) != 1 || out.Annotations["eventops_cut"] == "" {
		t.Fatalf("%v %.80v", err, out.Annotations)
	}
}

func BenchmarkDecodeAlert(b *testing.B) {
	v, err := EncodeAlert(sampleTransition())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(v)))
	for b.Loop() {
		if _, err := DecodeAlert(v); err != nil {
			b.Fatal(err)
		}
	}
}

// A transition carries its explanation through the record; a record written
// before transitions carried one (already in the topic and the tables)
// still decodes, without.
func TestAlertExplanationRoundTripAndOldRecords(t *testing.T) {
	in := sampleTransition()
	n, from, to := int64(30), rules.Timestamp(1761040800000), rules.Timestamp(1761041100000)
	in.Explanation = &rules.Explanation{
		Condition: `avg("cpu_load", "5m") > 90`,
		Crossed:   &rules.Crossing{Comparison: `avg("cpu_load", "5m") > 90`, Op: ">", Value: 80, Threshold: 90, Side: "below"},
		Features:  []rules.FeatureReading{{Feature: "avg(cpu_load,5m)", Value: 80, Window: "5m", Samples: &n, From: &from, To: &to}},
		Samples: []rules.SampleReading{{Metric: "cpu_load", Value: 79, At: to,
			Origin: &rules.SampleOrigin{Topic: RawTopic, Partition: 2, Offset: 41}}},
		Resolution: &rules.Resolution{By: rules.ResolvedByCondition, Value: 80},
	}
	v, err := EncodeAlert(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := DecodeAlert(v)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, out) {
		t.Fatalf("round trip:\n in %+v\nout %+v", in.Explanation, out.Explanation)
	}
	old, err := os.ReadFile(filepath.Join("testdata", "alert-before-explanation.json"))
	if err != nil {
		t.Fatal(err)
	}
	tr, err := DecodeAlert(old)
	if err != nil {
		t.Fatalf("a record written before explanations: %v", err)
	}
	if tr.Explanation != nil || tr.State != rules.StateFiring || tr.Features["avg(cpu_load,5m)"] != 92.5 {
		t.Fatalf("decoded %+v", tr)
	}
}
