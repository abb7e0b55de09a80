package api_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eventops/eventops/api"
	"github.com/eventops/eventops/normalize"
	"github.com/eventops/eventops/tables"
	"github.com/eventops/eventops/tables/kgotables"
)

type ingestBody struct {
	Accepted, Rejected int
	Errors             []api.ItemError
	Truncated          int `json:"errors_truncated"`
}

func ingestServer(p *fakeProducer, mod func(*api.Options)) *api.Server {
	o := api.Options{Producer: p, Logger: quiet}
	if mod != nil {
		mod(&o)
	}
	return api.New(o)
}

func ev(tenant, host, metric string, v float64) string {
	return fmt.Sprintf(`{"tenant_id":%q,"host":%q,"metric":%q,"value":%g,"ts_event":"2025-10-21T10:00:00Z"}`, tenant, host, metric, v)
}

func TestIngestShapes(t *testing.T) {
	f := func(name, body string, wantAccepted int, wantErrs ...string) {
		t.Helper()
		p := &fakeProducer{}
		r := do(t, ingestServer(p, nil), "POST", "/ingest", body, "Content-Type", "application/json")
		if r.status != 202 {
			t.Fatalf("%s: %d %s", name, r.status, r.body)
		}
		var b ingestBody
		if err := json.Unmarshal(r.body, &b); err != nil {
			t.Fatal(err)
		}
		var errs []string
		for _, e := range b.Errors {
			errs = append(errs, fmt.Sprintf("%d/%d:%s", e.Index, e.Line, e.Reason))
		}
		if b.Accepted != wantAccepted || b.Rejected != len(wantErrs) || strings.Join(errs, " ") != strings.Join(wantErrs, " ") {
			t.Fatalf("%s: %s, want %d accepted and errors %v", name, r.body, wantAccepted, wantErrs)
		}
		n := 0
		for _, rec := range p.records() {
			n += len(bytes.Split(rec.Value, []byte("\n")))
		}
		if n != wantAccepted {
			t.Fatalf("%s: %d events published, want %d", name, n, wantAccepted)
		}
	}
	f("one event", ev("acme", "h", "cpu", 1), 1)
	f("pretty event", "{\n  \"tenant_id\": \"acme\",\n  \"host\": \"h\",\n  \"metric\": \"cpu\",\n  \"value\": 1\n}\n", 1)
	f("array", "["+ev("acme", "h", "cpu", 1)+","+ev("acme", "h", "cpu", 2)+"]", 2)
	f("array with bad", "["+ev("acme", "h", "cpu", 1)+`,{"tenant_id":"acme"},7]`, 1, "1/0:missing_field", "2/0:wrong_type")
	f("ndjson", ev("acme", "h", "cpu", 1)+"\n\n"+ev("acme", "h2", "cpu", 2)+"\n", 2)
	f("ndjson with bad lines", strings.Join([]string{ev("acme", "h", "cpu", 1), `{"tenant_id":"acme","host":"h","metric":"cpu","value":"NaN"}`,
		"not json", `[1]`, ev("acme", "h", "9cpu", 1), ev("acme", "h", "cpu", 3)}, "\n"), 2,
		"1/2:not_finite", "2/3:invalid_json", "3/4:wrong_type", "4/5:bad_name")
}

// The events of a source go into records keyed tenant/host, in body order;
// each record is valid input for the ingest stage.
func TestIngestRecordsKeyedBySource(t *testing.T) {
	p := &fakeProducer{}
	var lines []string
	for i := range 30 {
		lines = append(lines, ev("acme", fmt.Sprintf("h%d", i%3), "cpu", float64(i)))
	}
	lines = append(lines, ev("other", "h0", "cpu", 99))
	r := do(t, ingestServer(p, nil), "POST", "/ingest", strings.Join(lines, "\n"))
	if r.status != 202 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	recs := p.records()
	if len(recs) != 4 {
		t.Fatalf("%d records, want one per source", len(recs))
	}
	opts := normalize.Options{}
	for _, rec := range recs {
		if rec.Topic != tables.RawTopic {
			t.Fatalf("topic %s", rec.Topic)
		}
		// A broker stamps the record in the same millisecond, or later.
		received := []byte(kgotables.Header(rec, tables.HeaderReceived))
		if len(received) == 0 || !tables.RawRecordTime(rec.Timestamp.Truncate(time.Millisecond), received).Equal(rec.Timestamp) {
			t.Fatalf("record of %s carries receive time %q, timestamp %v", rec.Key, received, rec.Timestamp)
		}
		res := opts.Parse(rec.Value, rec.Timestamp)
		if len(res.Rejected) > 0 {
			t.Fatalf("record %q rejected by the ingest stage's rules: %v", rec.Value, res.Rejected[0].Err)
		}
		last := -1.0
		for _, e := range res.Events {
			if tables.SourceKey(e.Tenant, e.Host) != string(rec.Key) {
				t.Fatalf("event of %s/%s in a record keyed %s", e.Tenant, e.Host, rec.Key)
			}
			if e.Sample.Value <= last {
				t.Fatalf("order lost in %s", rec.Key)
			}
			last = e.Sample.Value
		}
	}
}

// Every file of normalize's testdata gets the normalizer's verdict over
// HTTP: the good ones are accepted whole, each bad one is refused with its
// reason.
func TestIngestAgreesWithTheNormalizer(t *testing.T) {
	files, _ := filepath.Glob("../normalize/testdata/*/*.json")
	if len(files) < 10 {
		t.Fatalf("only %d testdata files", len(files))
	}
	opts := normalize.Options{}
	for _, file := range files {
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		p := &fakeProducer{}
		r := do(t, ingestServer(p, nil), "POST", "/ingest", string(raw))
		res := opts.Parse(raw, time.Now())
		name := filepath.Base(file)
		if filepath.Base(filepath.Dir(file)) == "good" {
			var b ingestBody
			_ = json.Unmarshal(r.body, &b)
			if r.status != 202 || b.Accepted != len(res.Events) || b.Rejected != 0 {
				t.Errorf("%s: %d %s, want all %d accepted", name, r.status, r.body, len(res.Events))
			}
			continue
		}
		reason, _, _ := strings.Cut(name, "__")
		var p2 api.Problem
		_ = json.Unmarshal(r.body, &p2)
		switch {
		case reason == "empty":
			if r.status != 400 || !strings.Contains(p2.Detail, "empty") {
				t.Errorf("%s: %d %s", name, r.status, r.body)
			}
		case r.status == 400 && len(p2.Errors) == 1 && p2.Errors[0].Reason == reason:
		case r.status == 400 && (reason == "invalid_json" || reason == "split_record") && strings.Contains(p2.Detail, "not a JSON array"):
		default:
			t.Errorf("%s: %d %s, want 400 with reason %s", name, r.status, r.body, reason)
		}
		if len(p.records()) != 0 {
			t.Errorf("%s: published", name)
		}
	}
}

// An event is judged against the time the request was received, and the
// ingest stage judges it against that time again, whenever the broker
// stamps its record: a sample 50 minutes ahead is refused as future, one
// without a time takes the receive time.
func TestIngestJudgesEventTimesAgainstTheReceiveTime(t *testing.T) {
	p := &fakeProducer{}
	before := time.Now()
	ahead := time.Now().Add(50 * time.Minute).UTC().Format(time.RFC3339)
	r := do(t, ingestServer(p, nil), "POST", "/ingest", `{"tenant_id":"acme","host":"h","metric":"m","value":1}
{"tenant_id":"acme","host":"h","metric":"m","value":2,"ts_event":"`+ahead+`"}`)
	var b ingestBody
	if err := json.Unmarshal(r.body, &b); err != nil || r.status != 202 || b.Accepted != 1 || len(b.Errors) != 1 ||
		b.Errors[0].Reason != "future" || !strings.Contains(b.Errors[0].Detail, "max_future (30s)") {
		t.Fatalf("%d %s", r.status, r.body)
	}
	recs := p.records()
	if len(recs) != 1 {
		t.Fatalf("%d records", len(recs))
	}
	received := tables.RawRecordTime(recs[0].Timestamp.Add(time.Second).Truncate(time.Millisecond), []byte(kgotables.Header(recs[0], tables.HeaderReceived)))
	if received.Before(before.Truncate(time.Microsecond)) || received.After(time.Now()) {
		t.Fatalf("the record carries receive time %v", received)
	}
	res := normalize.Options{}.Parse(recs[0].Value, received)
	if len(res.Rejected) != 0 || len(res.Events) != 1 || res.Events[0].Sample.TsMicro != received.UnixMilli()*1000 {
		t.Fatalf("the ingest stage's verdict: %+v", res)
	}
}

func TestIngestRefusals(t *testing.T) {
	p := &fakeProducer{}
	srv := ingestServer(p, func(o *api.Options) { o.IngestMaxBody = 4096 })
	problemOf := func(r fullResponse, status int, wants ...string) api.Problem {
		t.Helper()
		var pr api.Problem
		if r.status != status || r.ctype != "application/problem+json" || json.Unmarshal(r.body, &pr) != nil {
			t.Fatalf("%d %s %s, want %d problem", r.status, r.ctype, r.body, status)
		}
		for _, w := range wants {
			if !strings.Contains(pr.Detail, w) {
				t.Fatalf("detail %q lacks %q", pr.Detail, w)
			}
		}
		return pr
	}
	problemOf(do(t, srv, "POST", "/ingest", strings.Repeat(" ", 5000)+ev("a", "h", "m", 1)), 413, "more than the limit of 4096")
	problemOf(do(t, srv, "POST", "/ingest", ""), 400, "empty")
	problemOf(do(t, srv, "POST", "/ingest", "[1,2"), 400, "not a JSON array")
	pr := problemOf(do(t, srv, "POST", "/ingest", `{"tenant_id":"a"}`+"\nnope"), 400, "no event was accepted: 2 rejected")
	if len(pr.Errors) != 2 || pr.Errors[1].Line != 2 {
		t.Fatalf("errors %+v", pr.Errors)
	}
	problemOf(do(t, srv, "POST", "/ingest?tenant=a", ev("a", "h", "m", 1)), 400, `unknown parameter "tenant"`)
	// A line longer than the normalizer's record limit.
	big := ingestServer(p, func(o *api.Options) { o.Normalize.MaxRecordBytes = 100 })
	problemOf(do(t, big, "POST", "/ingest", ev("a", "h", "m", 1)+"\n"+ev("a", strings.Repeat("h", 100), "m", 1)), 413, "line 2 is")
	if len(p.records()) != 0 {
		t.Fatal("a refused request published")
	}
	// The broker fails: 503, and the answer says a retry is safe.
	failing := ingestServer(&fakeProducer{fail: true}, nil)
	problemOf(do(t, failing, "POST", "/ingest", ev("a", "h", "m", 1)), 503, "could not be published", "safe")
	// Over the body limit of the app itself.
	problemOf(do(t, api.New(api.Options{Logger: quiet}), "POST", "/ingest", ev("a", "h", "m", 1)), 503, "HTTP ingest")
}

// A tenant over its rate gets 429 with Retry-After, and other tenants go on.
func TestIngestRateLimitPerTenant(t *testing.T) {
	p := &fakeProducer{}
	srv := ingestServer(p, func(o *api.Options) { o.IngestRate, o.IngestBurst = 1, 10 })
	batch := func(tenant string, n int) string {
		var l []string
		for i := range n {
			l = append(l, ev(tenant, "h", "m", float64(i)))
		}
		return strings.Join(l, "\n")
	}
	if r := do(t, srv, "POST", "/ingest", batch("noisy", 25)); r.status != 202 {
		t.Fatalf("first batch: %d %s", r.status, r.body)
	}
	r := do(t, srv, "POST", "/ingest", batch("noisy", 1))
	if r.status != 429 || r.header.Get("Retry-After") == "" || r.ctype != "application/problem+json" {
		t.Fatalf("noisy again: %d %v %s", r.status, r.header, r.body)
	}
	// 25 taken of a burst of 10 at 1/s: 15 s of debt.
	if ra := r.header.Get("Retry-After"); ra != "15" && ra != "16" {
		t.Fatalf("Retry-After %s", ra)
	}
	if r := do(t, srv, "POST", "/ingest", batch("quiet", 5)); r.status != 202 {
		t.Fatalf("another tenant: %d %s", r.status, r.body)
	}
	// A request with the noisy tenant in it is refused whole.
	r = do(t, srv, "POST", "/ingest", batch("quiet", 1)+"\n"+batch("noisy", 1))
	if r.status != 429 {
		t.Fatalf("mixed: %d %s", r.status, r.body)
	}
	if n := len(p.records()); n != 2 {
		t.Fatalf("%d records published, want 2", n)
	}
}
