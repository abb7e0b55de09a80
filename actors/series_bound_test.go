package actors_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/eventops/eventops/actors"
	"github.com/eventops/eventops/tables"
)

// A source whose series carry many long tags (64 tags of 200-byte keys
// and 256-byte values, within the ingest limits) and fire an alert each
// keeps the tags twice: in the series and in the alert state. Shedding
// series to stay under MaxStateBytes drops the series but not their alert
// states, so the state written is still over the bound (and, at the
// default bound, over what the broker accepts: the state never becomes
// durable).
func TestAStateWithLongTagsStaysUnderItsBound(t *testing.T) {
	const bound = 64 << 10
	h := openPartition(t, actors.SourcesOptions{MaxStateBytes: bound}, false)
	now := h.clock.Now()
	sig := &tables.Signal{Tenant: "acme", Host: "host-a", Origin: tables.Origin{Partition: -1}, IngestMicro: now.UnixMicro()}
	for s := range 4 {
		var tags tables.Tags
		for k := range 64 {
			key := fmt.Sprintf("k%02d", k) + strings.Repeat("k", 197)
			tags = append(tags, tables.Tag{Key: key, Value: fmt.Sprintf("%d", s) + strings.Repeat("v", 255)})
		}
		sig.Samples = append(sig.Samples, tables.Sample{Metric: "cpu_load", Unit: "percent", Value: 99, TsMicro: now.UnixMicro(), Tags: tags})
	}
	h.part.Deliver(sig.Key(), 0, now.UnixMilli(), sig, h.stored(sig.Key()))
	h.waitDurable("acme/host-a", 0)
	for _, r := range h.broker.topic(tables.FeaturesTable) {
		if len(r.Value) > bound {
			t.Fatalf("a state of %d bytes was written (bound %d)", len(r.Value), bound)
		}
	}
}
