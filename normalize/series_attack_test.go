package normalize_test

import (
	"testing"
	"time"

	"github.com/eventops/eventops/normalize"
	"github.com/eventops/eventops/tables"
)

// One event, its tag a JSON number written two ways (1.0 by the agent,
// 1 after a JSON re-encoder on the way to HTTP ingest, 1e0 by another
// serializer): the same number, so the same series and one row. A tag
// value kept as written makes each spelling its own series (and its own
// row of the same sample).
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
