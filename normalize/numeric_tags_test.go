package normalize_test

import (
	"strings"
	"testing"
	"time"

	"github.com/eventops/eventops/normalize"
	"github.com/eventops/eventops/tables"
)

// One event, its tag a JSON number written several ways (1.0 by the agent,
// 1 after a JSON re-encoder on the way to HTTP ingest, 1e0 by another
// serializer): the same number, so the same series and one row.
func TestANumericTagIsOneSeriesHoweverItIsWritten(t *testing.T) {
	o := normalize.Options{}.Defaults()
	var ids []int64
	for _, core := range []string{"1", "1.0", "1e0", "1.00"} {
		rec := `{"tenant_id":"acme","host":"h","metric":"cpu_load","value":1,"ts_event":"2025-10-21T10:00:00Z","tags":{"core":` + core + `}}`
		r := o.Parse([]byte(rec), time.Date(2025, 10, 21, 10, 0, 1, 0, time.UTC))
		if len(r.Events) != 1 {
			t.Fatalf("%s: %+v", core, r.Rejected)
		}
		sm := r.Events[0].Sample
		ids = append(ids, tables.SeriesID(sm.Metric, sm.Tags))
		if ids[len(ids)-1] != ids[0] {
			t.Fatalf("core %s is series %s, core 1 another", core, tables.SeriesName(sm.Metric, sm.Tags))
		}
	}
}

// The canonical text of each spelling of a number: what PostgreSQL gives
// for trim_scale(value::numeric)::text of the same JSON number (the store
// tests hold eventops_series_id to the same table).
var numberSpellings = []struct{ in, want string }{
	{"1", "1"}, {"1.0", "1"}, {"1e0", "1"}, {"1.00", "1"}, {"1E+0", "1"}, {"10e-1", "1"}, {"0.1e1", "1"},
	{"0", "0"}, {"-0", "0"}, {"-0.0", "0"}, {"0e5", "0"}, {"0.000", "0"},
	{"1e-05", "0.00001"}, {"0.00001", "0.00001"}, {"1E-5", "0.00001"},
	{"100", "100"}, {"1e2", "100"}, {"1E+2", "100"}, {"100.0", "100"},
	{"0.10", "0.1"}, {"-1.50", "-1.5"}, {"-2.5e-3", "-0.0025"}, {"1.23e5", "123000"},
	{"123.456e1", "1234.56"}, {"1e20", "100000000000000000000"},
	{"12345678901234567890123", "12345678901234567890123"},
}

func TestNumericTagTextIsCanonical(t *testing.T) {
	o := normalize.Options{}.Defaults()
	for _, c := range numberSpellings {
		rec := `{"tenant_id":"acme","host":"h","metric":"m","value":1,"ts_event":"2025-10-21T10:00:00Z","tags":{"k":` + c.in + `}}`
		r := o.Parse([]byte(rec), time.Date(2025, 10, 21, 10, 0, 1, 0, time.UTC))
		if len(r.Events) != 1 {
			t.Fatalf("%s: %+v", c.in, r.Rejected)
		}
		if got, _ := r.Events[0].Sample.Tags.Get("k"); got != c.want {
			t.Errorf("tag %s reads %q, want %q", c.in, got, c.want)
		}
	}
}

// A number whose decimal text is longer than a tag may be is refused, however
// short it is written, and a long spelling of a short number is taken.
func TestNumericTagLengthIsItsDecimalLength(t *testing.T) {
	o := normalize.Options{}.Defaults()
	parse := func(tag string) normalize.Result {
		rec := `{"tenant_id":"acme","host":"h","metric":"m","value":1,"ts_event":"2025-10-21T10:00:00Z","tags":{"k":` + tag + `}}`
		return o.Parse([]byte(rec), time.Date(2025, 10, 21, 10, 0, 1, 0, time.UTC))
	}
	for _, tag := range []string{"1e300", "1e-300", "1e999999999999999999999", "-1e-999999999999"} {
		r := parse(tag)
		if len(r.Rejected) != 1 || r.Rejected[0].Err.Reason != normalize.ReasonTooLarge {
			t.Errorf("tag %s: events %d, rejected %+v", tag, len(r.Events), r.Rejected)
		}
	}
	for _, tag := range []string{"0e999999999999999999999", "1." + strings.Repeat("0", 400)} {
		if r := parse(tag); len(r.Events) != 1 {
			t.Errorf("tag %s: %+v", truncateTag(tag), r.Rejected)
		}
	}
}

func truncateTag(s string) string {
	if len(s) > 20 {
		return s[:20] + "…"
	}
	return s
}
