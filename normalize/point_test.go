package normalize

import (
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/eventops/eventops/tables"
)

func TestCheck(t *testing.T) {
	base := func() Point {
		return Point{Tenant: "acme", Host: "host-a", Metric: "http.server.duration", Unit: "Seconds", Value: 0.25,
			TimeNano: testRecordTime.Add(-time.Second).UnixNano() + 123456,
			Tags:     tables.Tags{{Key: "route", Value: "/a"}, {Key: "code", Value: "200"}, {Key: "route", Value: "/b"}}}
	}
	f := func(name string, mod func(*Point), want Reason) {
		t.Helper()
		p := base()
		mod(&p)
		ev, err := Options{}.Check(p, testRecordTime)
		got := Reason("")
		if err != nil {
			got = err.Reason
		}
		if got != want {
			t.Fatalf("%s: got %q (%v), want %q", name, got, err, want)
		}
		if err == nil && name == "good" {
			want := Event{Tenant: "acme", Host: "host-a", Sample: tables.Sample{Metric: "http_server_duration", Unit: "s", Value: 0.25,
				TsMicro: testRecordTime.Add(-time.Second).UnixMilli() * 1000, Tags: tables.Tags{{Key: "code", Value: "200"}, {Key: "route", Value: "/b"}}}}
			if !reflect.DeepEqual(ev, want) {
				t.Fatalf("good: %+v, want %+v", ev, want)
			}
		}
	}
	f("good", func(*Point) {}, "")
	f("no tenant", func(p *Point) { p.Tenant = "" }, ReasonMissingField)
	f("no host", func(p *Point) { p.Host = " " }, ReasonMissingField)
	f("bad metric", func(p *Point) { p.Metric = "9lives" }, ReasonBadName)
	f("nan", func(p *Point) { p.Value = math.NaN() }, ReasonNotFinite)
	f("inf", func(p *Point) { p.Value = math.Inf(-1) }, ReasonNotFinite)
	f("old", func(p *Point) { p.TimeNano = time.Date(1999, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano() }, ReasonBadTimestamp)
	f("future", func(p *Point) { p.TimeNano = testRecordTime.Add(time.Minute).UnixNano() }, ReasonFuture)
	f("no time", func(p *Point) { p.TimeNano = 0 }, "")
	f("empty tag key", func(p *Point) { p.Tags = tables.Tags{{Key: "", Value: "x"}} }, ReasonBadName)
	f("long tag value", func(p *Point) { p.Tags = tables.Tags{{Key: "k", Value: strings.Repeat("x", 257)}} }, ReasonTooLarge)
	f("too many tags", func(p *Point) {
		p.Tags = nil
		for i := range 65 {
			p.Tags = append(p.Tags, tables.Tag{Key: strings.Repeat("k", i+1), Value: "v"})
		}
	}, ReasonTooManyTags)
	f("invalid utf-8", func(p *Point) { p.Tags = tables.Tags{{Key: "k", Value: "\xff"}} }, ReasonInvalidUTF8)
}

// An accepted event written by AppendJSON is read back by Parse as itself.
func TestEventJSONRoundTrip(t *testing.T) {
	ev, err := Options{}.Check(Point{Tenant: "acme", Host: "h:1", Metric: "m", Unit: "percent", Value: -1.5e-7,
		TimeNano: testRecordTime.UnixNano() - 7_000_000,
		Tags:     tables.Tags{{Key: "q\"uote", Value: "line\nbreak\ttab\x01"}, {Key: "ü", Value: "\u2028"}}}, testRecordTime)
	if err != nil {
		t.Fatal(err)
	}
	b := ev.AppendJSON(nil)
	res := Options{}.Parse(b, testRecordTime)
	if len(res.Rejected) != 0 || len(res.Events) != 1 || !reflect.DeepEqual(res.Events[0], ev) {
		t.Fatalf("%s: %+v", b, res)
	}
}

// Check gives every point the verdict (and the event) that Parse gives the
// point written as JSON.
func FuzzCheckMatchesParse(f *testing.F) {
	f.Add("acme", "host-a", "cpu.load", "%", 92.5, int64(-1_000_000_000), "core", "0", "env", "prod")
	f.Add("", "h", "m", "", 1.0, int64(0), "", "", "", "")
	f.Add("a", "h", "9m", "ms", math.Inf(1), int64(1), "k", strings.Repeat("v", 300), "k", "w")
	f.Add("a", "h h", "m", "MSEC", -0.0, int64(60_000_000_000), "\x00", "v", "a\"b", "\\")
	f.Add("t", "h", "Metric Name/x-y", " Seconds ", 1e300, int64(-1e18), "k", "1.0", "k", "1")
	f.Fuzz(func(t *testing.T, tenant, host, metric, unit string, v float64, dt int64, k1, v1, k2, v2 string) {
		p := Point{Tenant: tenant, Host: host, Metric: metric, Unit: unit, Value: v,
			Tags: tables.Tags{{Key: k1, Value: v1}, {Key: k2, Value: v2}}}
		if dt != 0 {
			p.TimeNano = testRecordTime.UnixNano() + dt
		}
		valid := true
		for _, s := range []string{tenant, host, metric, unit, k1, v1, k2, v2} {
			valid = valid && utf8.ValidString(s)
		}
		if !valid || math.IsNaN(v) || math.IsInf(v, 0) {
			if _, err := (Options{}).Check(p, testRecordTime); err == nil {
				t.Fatalf("%+v accepted", p)
			}
			return
		}
		ev, err := Options{}.Check(p, testRecordTime)
		res := Options{}.Parse(p.AppendJSON(nil), testRecordTime)
		switch {
		case err == nil && (len(res.Events) != 1 || !reflect.DeepEqual(res.Events[0], ev)):
			t.Fatalf("Check accepted %+v as %+v, Parse of %s gave %+v", p, ev, p.AppendJSON(nil), res)
		case err != nil && (len(res.Rejected) != 1 || res.Rejected[0].Err.Reason != err.Reason):
			t.Fatalf("Check refused %+v with %v, Parse of %s gave %+v", p, err, p.AppendJSON(nil), res)
		}
		if err == nil {
			back := Options{}.Parse(ev.AppendJSON(nil), testRecordTime)
			if len(back.Events) != 1 || !reflect.DeepEqual(back.Events[0], ev) {
				t.Fatalf("event %+v written as %s reads back as %+v", ev, ev.AppendJSON(nil), back)
			}
		}
	})
}
