package normalize

import "testing"

func TestIncomplete(t *testing.T) {
	f := func(rec string, want bool) {
		t.Helper()
		if got := Incomplete([]byte(rec)); got != want {
			t.Errorf("Incomplete(%q) = %v, want %v", rec, got, want)
		}
	}
	f(`{"tenant_id":"acme","host":"host-a","metric":"cpu_load","value":92,`, true)
	f(`[{"a":1},`, true)
	f(`{"a":`, true)
	f(`{"a":1}`, false)
	f(` "ts_event":"2025-10-21T10:00:00Z"}`, false)
	f(`{"a":1}}`, false)
	f(`{"a" 1`, false)
	f(``, false)
	f(`not json`, false)
	joined := Join([]byte(`{"a":1,`), []byte(` "b":2}`))
	if string(joined) != "{\"a\":1,\n \"b\":2}" || Incomplete(joined) {
		t.Fatalf("joined %q", joined)
	}
}
