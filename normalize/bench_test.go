package normalize

import (
	"bytes"
	"fmt"
	"testing"
	"time"
)

const benchEvent = `{"tenant_id":"acme","host":"host-a","metric":"cpu_load","value":92,"ts_event":"2025-10-21T10:00:00Z","unit":"percent","tags":{"env":"prod"}}`

// benchRecords are the three shapes agents send: one event, an array of
// ten, and NDJSON of ten.
func benchRecords() []struct {
	name   string
	rec    []byte
	events int
} {
	var arr, nd bytes.Buffer
	arr.WriteByte('[')
	for i := range 10 {
		ev := fmt.Sprintf(`{"tenant_id":"acme","host":"host-%d","metric":"cpu_load","value":%d.5,"ts_event":"2025-10-21T10:00:%02dZ","unit":"percent","tags":{"env":"prod"}}`, i, 90+i, i)
		if i > 0 {
			arr.WriteByte(',')
		}
		arr.WriteString(ev)
		nd.WriteString(ev)
		nd.WriteByte('\n')
	}
	arr.WriteByte(']')
	return []struct {
		name   string
		rec    []byte
		events int
	}{
		{"single", []byte(benchEvent), 1},
		{"array10", arr.Bytes(), 10},
		{"ndjson10", nd.Bytes(), 10},
	}
}

func BenchmarkParse(b *testing.B) {
	for _, c := range benchRecords() {
		b.Run(c.name, func(b *testing.B) {
			benchParse(b, c.rec, c.events, Options{}.Parse)
		})
	}
}

func benchParse(b *testing.B, rec []byte, events int, parse func([]byte, time.Time) Result) {
	if res := parse(rec, testRecordTime); len(res.Events) != events {
		b.Fatalf("%d events, %v", len(res.Events), res.Rejected)
	}
	allocs := testing.AllocsPerRun(100, func() { parse(rec, testRecordTime) })
	b.ReportAllocs()
	b.SetBytes(int64(len(rec)))
	b.ResetTimer()
	for b.Loop() {
		parse(rec, testRecordTime)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*events), "ns/event")
	b.ReportMetric(allocs/float64(events), "allocs/event")
}

// BenchmarkParseReference is the encoding/json version, for the figures
// before.
func BenchmarkParseReference(b *testing.B) {
	for _, c := range benchRecords() {
		b.Run(c.name, func(b *testing.B) {
			benchParse(b, c.rec, c.events, func(rec []byte, recordTime time.Time) Result {
				return refParse(Options{}, rec, recordTime)
			})
		})
	}
}
