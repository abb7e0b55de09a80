package tables

import (
	"reflect"
	"testing"
	"time"

	"github.com/eventops/eventops/features"
	"github.com/eventops/eventops/rules"
)

func defaultCfg(string) features.Config { return features.DefaultConfig() }

func sampleState(t testing.TB) *SourceState {
	st := &SourceState{Partition: 3, Offset: 42, EventMilli: 1761040800000, ArrivalMilli: 1761040800500,
		Meta: &SourceMeta{Owner: "o", Tags: map[string]string{"k": "v"}}}
	st.MarkOrigin(Origin{Partition: 5, Offset: 9})
	st.MarkOrigin(Origin{Partition: 1, Offset: 7})
	st.MarkOrigin(Origin{Partition: 5, Offset: 3}) // lower: ignored
	for _, name := range []string{"mem", "cpu"} {
		ser := features.NewSeries(features.DefaultConfig())
		for i := 0; i < 50; i++ {
			if _, err := ser.Add(1761040800000+int64(i)*1000, float64(i)); err != nil {
				t.Fatal(err)
			}
		}
		st.AddMetric(MetricState{Name: name, Unit: "percent", Series: ser})
	}
	st.Alerts.Set(rules.RuleID(7), rules.State{Phase: rules.Firing, ActiveSince: 1, FiringSince: 2, Value: 92, Episode: 5})
	return st
}

func TestSourceStateRoundTrip(t *testing.T) {
	st := sampleState(t)
	b, err := st.AppendBinary(nil)
	if err != nil {
		t.Fatal(err)
	}
	got, reset, err := DecodeSourceState(b, defaultCfg)
	if err != nil || len(reset) != 0 {
		t.Fatal(err, reset)
	}
	again, _ := got.AppendBinary(nil)
	if string(again) != string(b) {
		t.Fatal("re-encoding differs")
	}
	if got.Metrics[0].Name != "cpu" || got.Offset != 42 || !reflect.DeepEqual(got.Origins, []OriginMark{{1, 7}, {5, 9}}) {
		t.Fatalf("decoded %+v", got)
	}
	if !got.SeenOrigin(Origin{Partition: 5, Offset: 9}) || got.SeenOrigin(Origin{Partition: 5, Offset: 10}) ||
		got.SeenOrigin(Origin{Partition: 2, Offset: 0}) || got.SeenOrigin(Origin{Partition: -1, Offset: 0}) {
		t.Fatal("SeenOrigin")
	}
	w, ok := got.Metric("mem").Series.Window(time.Minute)
	if !ok || w.Count != 50 {
		t.Fatalf("window %+v", w)
	}
}

// A series that no longer decodes under its metric's configuration starts
// afresh; the rest of the state survives.
func TestSourceStateResetsSeriesOfAChangedConfig(t *testing.T) {
	b, _ := sampleState(t).AppendBinary(nil)
	counter := func(m string) features.Config {
		c := features.DefaultConfig()
		c.Counter = m == "cpu"
		return c
	}
	got, reset, err := DecodeSourceState(b, counter)
	if err != nil || !reflect.DeepEqual(reset, []string{"cpu"}) {
		t.Fatalf("reset %v err %v", reset, err)
	}
	if _, ok := got.Metric("cpu").Series.Window(time.Minute); ok {
		t.Fatal("the reset series has data")
	}
	if w, _ := got.Metric("mem").Series.Window(time.Minute); w.Count != 50 {
		t.Fatal("the other series lost data")
	}
}

func FuzzDecodeSourceState(f *testing.F) {
	b, _ := sampleState(f).AppendBinary(nil)
	f.Add(b)
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, data []byte) {
		st, _, err := DecodeSourceState(data, defaultCfg)
		if err != nil {
			return
		}
		if _, err := st.AppendBinary(nil); err != nil {
			t.Fatal(err)
		}
	})
}
