package features

import (
	"encoding/json"
	"math"
	"testing"
)

// Values that are not finite travel as null and come back as NaN; the others
// come back as they went.
func TestFloatJSON(t *testing.T) {
	for _, v := range []float64{0, -1.5, 92.5, math.MaxFloat64, math.SmallestNonzeroFloat64, math.NaN(), math.Inf(1), math.Inf(-1)} {
		b, err := json.Marshal(Float(v))
		if err != nil {
			t.Fatal(err)
		}
		finite := !math.IsNaN(v) && !math.IsInf(v, 0)
		if !finite && string(b) != "null" {
			t.Errorf("%v encodes as %s", v, b)
		}
		var back Float
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		if finite && float64(back) != v || !finite && !math.IsNaN(float64(back)) {
			t.Errorf("%v came back as %v", v, back)
		}
	}
	var f Float
	if err := json.Unmarshal([]byte(`"high"`), &f); err == nil {
		t.Error("a string decodes")
	}
}
