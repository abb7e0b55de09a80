package tables

import (
	"strings"
	"testing"
)

// The DLQ keeps at most MaxDLQValue bytes of an input, and says so.
func TestRejectCutsLongValues(t *testing.T) {
	long := []byte(strings.Repeat("x", MaxDLQValue+10))
	r := Reject(StageIngest, "too_large", "too large", Input{Topic: RawTopic}, long)
	if len(r.Value) != MaxDLQValue || r.Error != "too large (the value is cut to its first 262144 of 262154 bytes)" || r.Index != -1 {
		t.Fatalf("%d bytes, %q, index %d", len(r.Value), r.Error, r.Index)
	}
	exact := long[:MaxDLQValue]
	if r := Reject(StageIngest, "too_large", "too large", Input{}, exact); len(r.Value) != MaxDLQValue || r.Error != "too large" {
		t.Fatalf("%d bytes, %q", len(r.Value), r.Error)
	}
}
