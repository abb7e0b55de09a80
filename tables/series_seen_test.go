package tables

import (
	"bytes"
	"testing"

	"github.com/eventops/eventops/features"
)

// A series keeps the source's event time of its last sample across
// encoding; a state of version 3, which did not keep it, counts it from
// the source's newest event time.
func TestASeriesKeepsTheSourceTimeOfItsLastSample(t *testing.T) {
	st := &SourceState{EventMilli: 9_000}
	ser := features.NewSeries(features.DefaultConfig())
	ser.Add(1000, 1)
	st.AddMetric(MetricState{Name: "cpu_load", Unit: "zz", Tags: Tags{{Key: "core", Value: "0"}}, Series: ser, SeenMilli: 7_000})
	b, err := st.AppendBinary(nil)
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := DecodeSourceState(b, defaultCfg)
	if err != nil || got.Metrics[0].SeenMilli != 7_000 {
		t.Fatalf("decoded %+v %v", got, err)
	}

	// The same state as version 3 wrote it: no series time after the unit.
	st.Metrics[0].SeenMilli = 0
	b, err = st.AppendBinary(nil)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(b, []byte("\x02zz\x00"))
	if i < 0 {
		t.Fatal("unit not found")
	}
	v3 := append(append([]byte{stateVersion3}, b[1:i+3]...), b[i+4:]...)
	got, _, err = DecodeSourceState(v3, defaultCfg)
	if err != nil || got.Metrics[0].SeenMilli != 9_000 || got.Metrics[0].Untagged || got.Metrics[0].Tags[0].Value != "0" {
		t.Fatalf("version 3 decoded %+v %v", got, err)
	}
}
