package api_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/eventops/eventops/api"
	"github.com/eventops/eventops/store"
	"github.com/eventops/eventops/store/storetest"
)

// A backtest's rules come from its caller: their annotation templates are
// checked, never executed, so a template that would loop for hours
// (range over a huge integer, templates calling each other twice over)
// costs a backtest nothing. Its transitions carry no annotations.
func TestBacktestDoesNotRunAnnotationTemplates(t *testing.T) {
	h := &sliceHistory{signals: hotHistory("acme", "web-1")}
	srv := newBacktestServer(t, h, api.Options{})
	chain := ""
	for i := range 60 {
		chain += `{{define "t` + strconv.Itoa(i) + `"}}{{template "t` + strconv.Itoa(i+1) + `"}}{{template "t` + strconv.Itoa(i+1) + `"}}{{end}}`
	}
	chain += `{{define "t60"}}{{end}}{{template "t0"}}`
	for name, tmpl := range map[string]string{
		"range over a huge integer": `{{range 1000000000000}}{{end}}`,
		"templates calling twice":   chain,
	} {
		file := strings.Replace(backtestRulesInForce, "> 90\n", "> 90\n        annotations:\n          summary: '"+tmpl+"'\n", 1)
		body := backtestBody(map[string]string{"rules": file,
			"from": backtestT0.Format(time.RFC3339), "to": backtestT0.Add(30 * time.Minute).Format(time.RFC3339)})
		req, _ := http.NewRequest("POST", "http://localhost/rules/backtest", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer key-acme")
		req.Header.Set("Content-Type", "application/json")
		start := time.Now()
		resp, err := srv.App().Test(req, 10_000)
		if err != nil {
			t.Fatalf("%s: no answer after %s: %v", name, time.Since(start).Round(time.Millisecond), err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		r := fullResponse{response: response{resp.StatusCode, resp.Header.Get("Content-Type"), b}}
		a := decodeAs[struct {
			Fired       int
			Transitions []struct{ Annotations map[string]string }
		}](t, r)
		if r.status != 200 || a.Fired != 1 || len(a.Transitions) == 0 {
			t.Fatalf("%s: %d %s", name, r.status, r.body)
		}
		for _, tr := range a.Transitions {
			if len(tr.Annotations) != 0 {
				t.Fatalf("%s: a transition with annotations %v", name, tr.Annotations)
			}
		}
	}

	// A template that does not parse is still a 400 that names its line.
	file := strings.Replace(backtestRulesInForce, "> 90\n", "> 90\n        annotations:\n          summary: '{{ $labels.host '\n", 1)
	r := do(t, srv, "POST", "/rules/backtest", backtestBody(map[string]string{"rules": file, "from": backtestT0.Format(time.RFC3339),
		"to": backtestT0.Add(30 * time.Minute).Format(time.RFC3339)}), bearer("key-acme")...)
	if p := decodeAs[problemAnswer](t, r); r.status != 400 || len(p.Errors) == 0 || p.Errors[0].Line != 11 || !strings.Contains(p.Detail, `annotation "summary"`) {
		t.Fatalf("a template that does not parse: %d %s", r.status, r.body)
	}
}

// A host that PostgreSQL text cannot hold (a NUL byte) is the caller's
// mistake, a 400, not a failed query.
func TestBacktestRefusesAHostThatIsNotText(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, store.Options{URL: storetest.NewDatabase(t), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	srv := api.New(api.Options{Store: st, Logger: quiet, Keys: keysFor(t, "acme"), RulesInForce: rulesInForce(t)})
	body := backtestBody(map[string]string{"expr": `avg("cpu_load", "1m") > 90`, "host": "web\x001",
		"from": backtestT0.Format(time.RFC3339), "to": backtestT0.Add(30 * time.Minute).Format(time.RFC3339)})
	r := do(t, srv, "POST", "/rules/backtest", body, bearer("key-acme")...)
	if p := decodeAs[problemAnswer](t, r); r.status != 400 || r.ctype != "application/problem+json" || !strings.Contains(p.Detail, "host") {
		t.Fatalf("%d %s", r.status, r.body)
	}
}

// An answer is bounded in bytes, not only in items: a rule file whose
// labels are large (a YAML alias repeats a long value without making the
// file longer) lists the transitions that fit and says it was truncated.
func TestBacktestBoundsTheBytesOfItsAnswer(t *testing.T) {
	h := &sliceHistory{signals: hotHistory("acme", "web-1")}
	srv := newBacktestServer(t, h, api.Options{})
	var b strings.Builder
	b.WriteString("metrics:\n  - name: cpu_load\n    kind: gauge\ngroups:\n  - name: host\n    rules:\n")
	b.WriteString("      - alert: HighCPU\n        expr: avg(\"cpu_load\", \"1m\") > 90\n        labels: {l: &v " + strings.Repeat("x", 40<<10) + ", ")
	for i := range 1000 {
		b.WriteString("l" + strconv.Itoa(i) + ": *v, ")
	}
	b.WriteString("}\n")
	r := do(t, srv, "POST", "/rules/backtest", backtestBody(map[string]string{"rules": b.String(),
		"from": backtestT0.Format(time.RFC3339), "to": backtestT0.Add(30 * time.Minute).Format(time.RFC3339)}), bearer("key-acme")...)
	if r.status != 200 || len(r.body) > 32<<20 {
		t.Fatalf("%d, %d bytes %.300s", r.status, len(r.body), r.body)
	}
	if a := decodeAs[backtestAnswer](t, r); !a.Truncated || a.Episodes != 1 || a.Fired != 1 {
		t.Fatalf("%d bytes: episodes %d, fired %d, truncated %v", len(r.body), a.Episodes, a.Fired, a.Truncated)
	}
}

// An answer of megabytes stays in its tenant's query slot until it is
// sent: a client that does not read it holds the slot, not memory beyond
// the slots, and is cut off once the query timeout passes in the write.
func TestBacktestAnswerIsSentInItsSlot(t *testing.T) {
	h := &sliceHistory{signals: hotHistory("acme", "web-1")}
	srv := newBacktestServer(t, h, api.Options{QueriesPerTenant: 1, QueryTimeout: 3 * time.Second})
	base := serve(t, srv)
	// Two transitions of about 4 MB: labels of 40 KiB, one value aliased.
	var b strings.Builder
	b.WriteString("metrics:\n  - name: cpu_load\n    kind: gauge\ngroups:\n  - name: host\n    rules:\n")
	b.WriteString("      - alert: HighCPU\n        expr: avg(\"cpu_load\", \"1m\") > 90\n        labels: {l: &v " + strings.Repeat("x", 40<<10) + ", ")
	for i := range 100 {
		b.WriteString("l" + strconv.Itoa(i) + ": *v, ")
	}
	b.WriteString("}\n")
	big := backtestBody(map[string]string{"rules": b.String(),
		"from": backtestT0.Format(time.RFC3339), "to": backtestT0.Add(30 * time.Minute).Format(time.RFC3339)})

	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "POST /rules/backtest HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer key-acme\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(big), big)

	// Once the first is answered, the next backtest of the tenant runs
	// when its one slot is free.
	small := backtestBody(map[string]string{"expr": `avg("cpu_load", "1m") > 90`,
		"from": backtestT0.Format(time.RFC3339), "to": backtestT0.Add(30 * time.Minute).Format(time.RFC3339)})
	deadline := time.Now().Add(time.Minute)
	for len(h.scanned()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the first backtest did not run")
		}
		<-time.After(5 * time.Millisecond)
	}
	for {
		if time.Now().After(deadline) {
			t.Fatal("the slot was never freed")
		}
		req, _ := http.NewRequest("POST", base+"/rules/backtest", strings.NewReader(small))
		req.Header.Set("Authorization", "Bearer key-acme")
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == 200 {
			break
		}
		if resp.StatusCode != 429 {
			t.Fatalf("the next backtest: %d", resp.StatusCode)
		}
		<-time.After(20 * time.Millisecond)
	}
	// The slot was freed because the unread answer was given up, not
	// while it still waited to be sent: what the server still had of it
	// is gone (a whole answer is read in milliseconds here).
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != 200 || resp.ContentLength < 4<<20 || (err == nil && n == resp.ContentLength) {
		t.Fatalf("the unread answer: %d, %d of %d bytes (%v): sent whole after its slot was freed", resp.StatusCode, n, resp.ContentLength, err)
	}
}

// A backtest's rule file has at most BacktestMaxRules rules: alert states
// grow with rules times series within one engine step, which no deadline
// interrupts.
func TestBacktestBoundsItsRules(t *testing.T) {
	h := &sliceHistory{signals: hotHistory("acme", "web-1")}
	srv := newBacktestServer(t, h, api.Options{})
	file := func(n int) string {
		var b strings.Builder
		b.WriteString("metrics:\n  - name: cpu_load\n    kind: gauge\ngroups:\n  - name: g\n    rules:\n")
		for i := range n {
			b.WriteString("      - alert: A" + strconv.Itoa(i) + "\n        expr: 'last(\"cpu_load\") > 90'\n")
		}
		return b.String()
	}
	send := func(n int) fullResponse {
		return do(t, srv, "POST", "/rules/backtest", backtestBody(map[string]string{"rules": file(n),
			"from": backtestT0.Format(time.RFC3339), "to": backtestT0.Add(30 * time.Minute).Format(time.RFC3339)}), bearer("key-acme")...)
	}
	if r := send(api.BacktestMaxRules); r.status != 200 {
		t.Fatalf("%d rules: %d %s", api.BacktestMaxRules, r.status, r.body)
	}
	r := send(api.BacktestMaxRules + 1)
	if p := decodeAs[problemAnswer](t, r); r.status != 400 || !strings.Contains(p.Detail, "more than the 100 of one backtest") {
		t.Fatalf("%d rules: %d %s", api.BacktestMaxRules+1, r.status, r.body)
	}
	if n := len(h.scanned()); n != 1 {
		t.Fatalf("%d scans, want 1 (none for the file refused)", n)
	}
}
