package tables

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"testing"
	"unsafe"
)

func TestSignalRoundTrip(t *testing.T) {
	in := &Signal{
		Tenant: "acme", Host: "host-a", Origin: Origin{Partition: 3, Offset: 99}, IngestMicro: 1234567,
		Meta: &SourceMeta{Owner: "team-a", Region: "eu", Tags: map[string]string{"tier": "1"}},
		Samples: []Sample{
			{Metric: "cpu_load", Unit: "percent", Value: 92.5, TsMicro: 1761040800000000, Tags: Tags{{"env", "prod"}}},
			{Metric: "mem", Value: math.MaxFloat64, TsMicro: -5},
		},
	}
	out, err := DecodeSignal(in.AppendBinary(nil))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, out) {
		t.Fatalf("round trip:\n in %+v\nout %+v", in, out)
	}
}

func FuzzDecodeSignal(f *testing.F) {
	f.Add((&Signal{Tenant: "a", Host: "b", Samples: []Sample{{Metric: "m", Value: 1}}}).AppendBinary(nil))
	f.Add([]byte{1, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := DecodeSignal(b)
		if err != nil {
			return
		}
		again, err := DecodeSignal(s.AppendBinary(nil))
		if err != nil || !reflect.DeepEqual(s, again) {
			t.Fatalf("re-decode: %v", err)
		}
	})
}

func TestTagsJSON(t *testing.T) {
	tags := Tags{{"a\"b", "line\nbreak\x01"}, {"k", "ünïcode ✓"}}
	var m map[string]string
	if err := json.Unmarshal(tags.AppendJSON(nil), &m); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(m, tags.Map()) {
		t.Fatalf("got %v", m)
	}
}

func TestSplitKey(t *testing.T) {
	if tn, h, err := SplitKey("acme/host-a"); err != nil || tn != "acme" || h != "host-a" {
		t.Fatalf("%q %q %v", tn, h, err)
	}
	for _, bad := range []string{"", "acme", "/h", "t/", "t/h/x"} {
		if _, _, err := SplitKey(bad); err == nil {
			t.Errorf("SplitKey(%q) accepted", bad)
		}
	}
}

// However many distinct names arrive, the interner holds at most its
// bound, and still shares the strings in use.
func TestInternerIsBoundedInBytes(t *testing.T) {
	in := NewInterner(64 << 10)
	for i := range 100_000 {
		s := in.String([]byte(fmt.Sprintf("host-%0200d", i)))
		if in.Size() > 64<<10 {
			t.Fatalf("holds %d bytes after %d strings", in.Size(), i)
		}
		if len(s) != 205 {
			t.Fatal("wrong string")
		}
	}
	a := in.String([]byte("cpu_load"))
	b := in.String([]byte("cpu_load"))
	if unsafe.StringData(a) != unsafe.StringData(b) {
		t.Fatal("a string in use is not shared")
	}
}
