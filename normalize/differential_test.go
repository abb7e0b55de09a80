package normalize

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// trickyRecords are seeds for the places where a hand-written decoder and
// encoding/json could part ways.
func trickyRecords() []string {
	ev := func(members string) string {
		return `{"tenant_id":"t","host":"h","metric":"m","value":1` + members + `}`
	}
	deep := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	var many []string
	for i := range 70 {
		many = append(many, `"k`+string(rune('a'+i%26))+string(rune('a'+i/26))+`":"v"`)
	}
	return []string{
		// Escapes, surrogate pairs, invalid escapes.
		`{"tenant_id":"a\u0062c","host":"h\/1","metric":"m","value":1}`,
		`{"tenant_id":"\ud83d\ude00","host":"h","metric":"m","value":1}`,
		`{"tenant_id":"t\ud800","host":"h","metric":"m","value":1}`,
		`{"tenant_id":"t\udc00\ud800x","host":"h","metric":"m","value":1}`,
		`{"tenant_id":"t\ud800\ud800\udc00","host":"h","metric":"m","value":1}`,
		`{"tenant_id":"t\uD834\uDD1E","host":"h","metric":"m","value":1}`,
		ev(`,"tags":{"k\ud83d\ude00":"v\udfff","\u0000":"\n\t\b\f\r\"\\"}`),
		ev(`,"tags":{"k":"\u00e9\u0301"}`),
		`{"tenant_id":"\x"}`, `{"tenant_id":"\u12"}`, `{"tenant_id":"\u12g4"}`, `{"a":"\'"}`, `{"a":"\`,
		"{\"a\":\"tab\there\"}",
		// Duplicate keys: the last wins, null included.
		`{"tenant_id":"a","tenant_id":"b","host":"h","metric":"m","value":1}`,
		`{"tenant_id":"a","tenant_id":null,"tenant":"c","host":"h","metric":"m","value":1}`,
		`{"tenant_id":"","tenant":"c","host":"h","metric":"m","value":1}`,
		`{"tenant_id":7,"tenant_id":"a","host":"h","metric":"m","value":1}`,
		ev(`,"value":null`), ev(`,"value":"x","value":2`), ev(`,"ts_event":"x","ts_event":null,"ts":1761040800`),
		ev(`,"tags":{"a":"1"},"tags":null`), ev(`,"tags":{"a":"1","a":null}`), ev(`,"tags":{"a":null,"a":"2"}`),
		ev(`,"tags":{"b":"1"},"tags":{"a":2}`), ev(`,"tags":[1],"tags":{"a":"1"}`),
		// Case-insensitive names, as encoding/json matches them.
		`{"Tenant_ID":"a","HOST":"h","Metric":"m","VALUE":1,"Ts_Event":1761040800,"UNIT":"MB","TAGS":{"A":"b"}}`,
		`{"tenant_\u0131d":"a","ho\u017ft":"h","metric":"m","Value":1}`,
		`{"tenant_id":"a","ho\u017Ft":"h","metric":"m","value":1}`,
		`{"tenant_id":"a","hoſt":"h","NAME":"m","value":1,"TıME":1}`,
		`{"tenant\u005fid":"a","host":"h","metric":"m","v\u0061lue":1}`,
		// Numbers.
		ev(`,"value":1e400`), ev(`,"value":-1e400`), ev(`,"value":-0`), ev(`,"value":01`), ev(`,"value":1.e5`),
		ev(`,"value":1.5e-400`), ev(`,"value":1E+5`), ev(`,"value":-`), ev(`,"value":+1`), ev(`,"value":.5`),
		ev(`,"value":1.0e`), ev(`,"value":0.1e-2`), `-0`, `01`, `1e400`, `[1.e5]`, `[-0.0e0]`,
		// Values and times of every kind.
		ev(`,"value":"NaN"`), ev(`,"value":" nan "`), ev(`,"value":"-Infinity"`), ev(`,"value":"1e400"`),
		ev(`,"value":"0x1p-2"`), ev(`,"value":"\u004eaN"`), ev(`,"value":true`), ev(`,"value":{}`), ev(`,"value":[]`),
		ev(`,"ts_event":1e400`), ev(`,"ts_event":-0`), ev(`,"ts_event":0`), ev(`,"ts_event":1761040800.5`),
		ev(`,"ts_event":1761040800123`), ev(`,"ts_event":1761040800123456`), ev(`,"ts_event":1761040800123456789`),
		ev(`,"ts_event":9e18`), ev(`,"ts_event":9.3e18`), ev(`,"ts_event":true`), ev(`,"ts_event":{}`), ev(`,"ts_event":[]`),
		ev(`,"ts_event":"2025-10-21T10:00:00.123456789123Z"`), ev(`,"ts_event":"2025-10-21T10:00:00,5Z"`),
		ev(`,"ts_event":"2025-10-21t10:00:00Z"`), ev(`,"ts_event":" 2025-10-21T10:00:00Z\n"`),
		ev(`,"ts_event":"2025-10-21T12:00:00+02:00"`), ev(`,"ts_event":"2025-10-21T12:00:00-23:59"`),
		ev(`,"ts_event":"2025-02-29T00:00:00Z"`), ev(`,"ts_event":"2024-02-29T00:00:00Z"`),
		ev(`,"ts_event":"2025-10-21T24:00:00Z"`), ev(`,"ts_event":"2025-10-21T10:00:60Z"`),
		ev(`,"ts_event":"2025-10-21T10:00:00.Z"`), ev(`,"ts_event":"2025-10-21T10:00:00+0200"`),
		ev(`,"ts_event":"2025-10-21 10:00:00Z"`), ev(`,"ts_event":"2025-10-21T10:00:00\u005a"`),
		ev(`,"time":"2025-12-31T23:59:59.999999999Z"`), ev(`,"timestamp":null,"time":1761040800`),
		// Tags.
		ev(`,"tags":{}`), ev(`,"tags":{"":"x","a":{"b":1}}`), ev(`,"tags":{"k":[1]}`), ev(`,"tags":{"":null}`),
		ev(`,"tags":{"n":1.50,"b":false,"z":-0,"e":1E3}`), ev(`,"tags":"x"`), ev(`,"tags":5`), ev(`,"tags":true`),
		ev(`,"tags":{` + strings.Join(many, ",") + `}`), ev(`,"tags":{` + strings.Join(many[:64], ",") + `,"ka":"w"}`),
		// Names and units.
		ev(`,"metric":" CPU.Load "`), ev(`,"metric":"9x"`), ev(`,"metric":"İx"`), ev(`,"metric":"\u212a"`),
		ev(`,"metric":"a\tb"`), ev(`,"metric":"\tab\u0085"`), ev(`,"metric":"   "`), ev(`,"metric":""`),
		ev(`,"metric":"a:b_c"`), ev(`,"name":"ab"`), ev(`,"metric":null,"name":"x.y"`),
		ev(`,"unit":"°C"`), ev(`,"unit":"  MS "`), ev(`,"unit":"ΜΒ"`), ev(`,"unit":"Req/S"`), ev(`,"unit":null`),
		ev(`,"tenant_id":" a "`), ev(`,"tenant_id":"\u00a0a"`), ev(`,"host":"\u2028"`), ev(`,"source":"s"`),
		// Type errors: the first one names the field.
		`{"tenant_id":1,"host":true,"metric":"m","value":1}`, ev(`,"host":{"a":1}`), ev(`,"unit":[1]`),
		ev(`,"metric":false`), ev(`,"source_id":null,"hostname":2`),
		// Whitespace, BOM, Unicode spaces.
		" \t\r\n{ \"tenant_id\" :\r\n\"t\" , \"host\":\"h\" ,\"metric\" :\"m\",\"value\":\t1 ,\"tags\" : { \"a\" : \"b\" } } \n",
		"\ufeff" + ev(""), "\u00a0" + ev("") + "\u2028", ev("") + "\v", "\u00a0" + ev("") + "\u00a0\n" + ev(""),
		// Nesting: encoding/json refuses more than 10000 levels.
		ev(`,"x":` + deep(9999)), ev(`,"x":` + deep(10000)), "[" + ev(`,"x":`+deep(9998)) + "]",
		"[" + ev(`,"x":`+deep(9999)) + "]", ev(`,"x":{"y":[{"z":[[],{}]}],"w":{}}`), deep(10000), deep(10001),
		// Unterminated, truncated, not JSON.
		`{"tenant_id":"abc`, `{"tenant_id`, `["abc`, `{"a":1`, `[{"a":1}`, `{"a" 1}`, `{"a":1,}`, `[1,]`, `[,1]`,
		`{,}`, `tru`, `nul`, `{"a":nulx}`, `not json`, `"str"`, `42`, `null`, `true`, `{}`, `[]`, `[ ]`, `[null]`,
		// Arrays and NDJSON.
		"[1," + ev("") + "]", "[" + ev("") + ",]", "[" + ev("") + "] x", "[[" + ev("") + "]]",
		"[" + ev("") + "]\n[" + ev("") + "]", "[" + ev("") + "," + ev(`,"value":"x"`) + "]",
		ev("") + "\n" + ev(`,"value":2`), ev("") + "\n\n  \n" + ev(""), ev("") + "\r\n" + ev("") + "\r\n",
		ev("") + "\n[1]\n", "1\n2", ev("") + " " + ev(""), ev("") + "\nnot json", "{\"a\":\n1}\n{\"b\":2}",
		"[1]\n[2]", ev("") + "\n" + ev("") + "\n" + ev("") + "\n" + ev("") + "\n" + ev(""), ev(`,"value":"x"`) + "\n{}",
		"\n\n" + ev("") + "\n", ev("") + "\n{\"a\":",
		// Pieces of events cut into lines, and look-alikes that are not.
		`{"a":"\u12`, `{"a":"\`, `{"a":tr`, `{"a":-`, `{"a":1.`, `[[[`, strings.Repeat("[", 10000), strings.Repeat("[", 10001),
		`"a" : 1`, `"a\"b":{`, `"\x":1`, `"a",`, `"a"`, `"a`, "\"a\"\n:1", `]`, `},`, `}}`, `{"a":1}}`, `[1]]`,
		"{\"a\":1,\n\"b\":", "{\"a\":1}\n{\"b\":", " \"ts_event\":\"2025-10-21T10:00:00Z\"}\n",
		// Big.
		strings.Repeat(ev("")+"\n", 2000), "[" + strings.Repeat(ev("")+",", 999) + ev("") + "]",
		ev(`,"tags":{"k":"` + strings.Repeat("v", 300) + `"}`), ev(`,"host":"` + strings.Repeat("h", 129) + `"}`),
		// Numeric tags, written many ways.
		ev(`,"tags":{"a":1.0,"b":1e-05,"c":-0.0,"d":12E+2,"e":0.0012e3}`), ev(`,"tags":{"k":1e300}`),
		ev(`,"tags":{"k":1e-4}`), ev(`,"tags":{"k":-1e99999999999999999999}`), ev(`,"tags":{"k":0e-99999999999}`),
		ev(`,"tags":{` + strings.ReplaceAll(strings.Join(many[:60], ","), `"v"`, `"v0123456789012345678901234567890123456789"`) + `}`),
		ev(`,"host":"` + strings.Repeat(`\u00e9`, 900) + `","tags":{"\u00e9":"` + strings.Repeat(`\ud83d\ude00`, 300) + `"}`),
		ev(`,"unit":"` + strings.Repeat("x", 1100) + `"`), ev(`,"x":"` + strings.Repeat(`\"`, 2000) + `"`),
		// Invalid UTF-8.
		"{\"tenant_id\":\"\xff\",\"host\":\"h\",\"metric\":\"m\",\"value\":1}", "\xed\xa0\x80",
	}
}

// Small limits, so that short inputs reach them.
var tightOptions = Options{MaxRecordBytes: 400, MaxEvents: 3, MaxTags: 2, MaxNameLen: 6, MaxTagLen: 5,
	MaxFuture: time.Minute, MinTime: time.Date(2025, 10, 21, 0, 0, 0, 0, time.UTC)}

// FuzzParseMatchesReference holds Parse to the encoding/json version it
// replaced, on any bytes: the same events, the same rejections with the same
// reasons, indexes and bytes, and the same messages but for the wording of
// syntax errors.
func FuzzParseMatchesReference(f *testing.F) {
	files, _ := filepath.Glob("testdata/*/*.json")
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range trickyRecords() {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, rec []byte) {
		for _, o := range []Options{{}, tightOptions} {
			got := o.Parse(rec, testRecordTime)
			want := refParse(o, rec, testRecordTime)
			if diff := compareResults(got, want); diff != "" {
				t.Fatalf("options %+v, record %q:\n%s", o, truncate(string(rec), 400), diff)
			}
		}
	})
}

func compareResults(got, want Result) string {
	var b strings.Builder
	say := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	if (got.Events == nil) != (want.Events == nil) || len(got.Events) != len(want.Events) {
		say("events: got %d (nil %v), want %d (nil %v)", len(got.Events), got.Events == nil, len(want.Events), want.Events == nil)
	} else {
		for i, g := range got.Events {
			w := want.Events[i]
			gs, ws := g.Sample, w.Sample
			if g.Tenant != w.Tenant || g.Host != w.Host || gs.Metric != ws.Metric || gs.Unit != ws.Unit ||
				math.Float64bits(gs.Value) != math.Float64bits(ws.Value) || gs.TsMicro != ws.TsMicro ||
				(gs.Tags == nil) != (ws.Tags == nil) || !slices.Equal(gs.Tags, ws.Tags) {
				say("event %d: got %+v, want %+v", i, g, w)
			}
		}
	}
	if (got.Rejected == nil) != (want.Rejected == nil) || len(got.Rejected) != len(want.Rejected) {
		say("rejections: got %s, want %s", rejections(got.Rejected), rejections(want.Rejected))
		return b.String()
	}
	for i, g := range got.Rejected {
		w := want.Rejected[i]
		if g.Err.Reason != w.Err.Reason || g.Err.Index != w.Err.Index || string(g.Raw) != string(w.Raw) {
			say("rejection %d: got %v (raw %q), want %v (raw %q)", i, g.Err, g.Raw, w.Err, w.Raw)
			continue
		}
		gm, wm := g.Err.Msg, w.Err.Msg
		if g.Err.Reason == ReasonInvalidJSON {
			// The syntax error is worded by the scanner; where it was found
			// (the array, the record, which line) must agree.
			gm, _, _ = strings.Cut(gm, ": ")
			wm, _, _ = strings.Cut(wm, ": ")
		}
		if gm != wm || g.Err.Msg == "" {
			say("rejection %d: got message %q, want %q", i, g.Err.Msg, w.Err.Msg)
		}
	}
	return b.String()
}

// FuzzRFC3339 holds the copy of the time package's RFC 3339 fast path to
// time.Parse: whatever it accepts, time.Parse reads as the same instant.
func FuzzRFC3339(f *testing.F) {
	for _, s := range []string{"2025-10-21T10:00:00Z", "2025-10-21T10:00:00.123456789123Z", "2025-10-21T12:00:00+02:00",
		"2024-02-29T23:59:59.5-23:59", "0000-01-01T00:00:00Z", "9999-12-31T23:59:59.999999999Z", "2025-10-21T10:00:00,5Z",
		"2025-02-29T00:00:00Z", "2025-10-21T24:00:00Z", "2025-10-21T10:00:00.Z", "2025-10-21T10:00:00+24:00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := parseRFC3339([]byte(s))
		want, err := time.Parse(time.RFC3339Nano, s)
		if ok && (err != nil || !got.Equal(want)) {
			t.Fatalf("%q: got %v, time.Parse %v, %v", s, got, want, err)
		}
	})
}

func rejections(rs []Rejected) string {
	var parts []string
	for _, r := range rs {
		parts = append(parts, fmt.Sprintf("{%v raw %q}", r.Err, r.Raw))
	}
	return "[" + strings.Join(parts, ", ") + "]"
}
