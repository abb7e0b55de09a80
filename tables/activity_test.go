package tables

import (
	"errors"
	"strings"
	"testing"
)

// An activity record round-trips with its activity on one line; what the
// decoder refuses, the encoder refuses too.
func TestActivityCodec(t *testing.T) {
	r := ActivityRecord{Tenant: "acme", EpisodeID: "e1", Host: "h", Severity: "critical", State: "firing", ID: 7,
		Activity: []byte("{\n  \"id\": 7,\n  \"note\": \"two\\nlines\"\n}")}
	v, err := EncodeActivity(r)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeActivity(v)
	if err != nil {
		t.Fatal(err)
	}
	if got.Tenant != "acme" || got.EpisodeID != "e1" || got.Host != "h" || got.Severity != "critical" || got.State != "firing" || got.ID != 7 ||
		string(got.Activity) != `{"id":7,"note":"two\nlines"}` {
		t.Fatalf("decoded %+v (%s)", got, got.Activity)
	}
	bad := map[string]ActivityRecord{
		"no tenant":   {EpisodeID: "e1", ID: 1, Activity: []byte(`{}`)},
		"no episode":  {Tenant: "acme", ID: 1, Activity: []byte(`{}`)},
		"no id":       {Tenant: "acme", EpisodeID: "e1", Activity: []byte(`{}`)},
		"no activity": {Tenant: "acme", EpisodeID: "e1", ID: 1},
		"not object":  {Tenant: "acme", EpisodeID: "e1", ID: 1, Activity: []byte(`[1]`)},
		"too large":   {Tenant: "acme", EpisodeID: "e1", ID: 1, Activity: []byte(`{"note":"` + strings.Repeat("x", MaxActivityRecord) + `"}`)},
	}
	for name, r := range bad {
		if _, err := EncodeActivity(r); !errors.Is(err, ErrBadActivity) {
			t.Errorf("%s: encoded (%v)", name, err)
		}
	}
	for name, v := range map[string]string{"not json": `{`, "no id": `{"tenant":"acme","episode_id":"e1","activity":{}}`,
		"activity not json":          `{"tenant":"acme","episode_id":"e1","id":1,"activity":"x"}`,
		"another tenant's activity":  `{"tenant":"acme","episode_id":"e1","id":1,"activity":{"id":1,"tenant":"beta","episode_id":"e1"}}`,
		"another episode's activity": `{"tenant":"acme","episode_id":"e1","id":1,"activity":{"id":1,"tenant":"acme","episode_id":"e2"}}`,
		"another activity":           `{"tenant":"acme","episode_id":"e1","id":1,"activity":{"id":2,"tenant":"acme","episode_id":"e1"}}`,
		"a tenant that is no string": `{"tenant":"acme","episode_id":"e1","id":1,"activity":{"tenant":7}}`} {
		if _, err := DecodeActivity([]byte(v)); !errors.Is(err, ErrBadActivity) {
			t.Errorf("%s: decoded (%v)", name, err)
		}
	}
}
