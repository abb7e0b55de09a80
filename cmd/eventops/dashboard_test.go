package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/eventops/eventops/api"
)

// The dashboard in a real headless Chromium against the real `eventops dev`
// with keys required: the login form gets the session cookie, an event
// posted to /ingest that fires HighCPU shows in the live feed (how soon is
// logged; eventops bench measures the latency), and its point shows on the
// chart. With EVENTOPS_SCREENSHOT=PATH
// it saves a screenshot there (docs/dashboard.png is made so).
func TestDashboardInChromium(t *testing.T) {
	t.Parallel()
	env := newDevEnv(t)
	keysFile := filepath.Join(t.TempDir(), "keys")
	const key = "acme-dashboard-key"
	if err := os.WriteFile(keysFile, []byte(api.HashKey(key)+" acme dashboard test\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := env.start(t, "--flush-interval", "1s", "--api-keys-file", keysFile)
	if !strings.Contains(p.Log(), "API access: keys required") {
		t.Fatalf("the start log does not say keys are required:\n%s", p.Log())
	}

	// Some history first: cpu_load of two sources over the last quarter
	// hour, below the HighCPU threshold, and host-a's metadata.
	now := time.Now().UTC().Truncate(time.Second)
	var hist []string
	for i := 14; i >= 3; i-- {
		ts := now.Add(-time.Duration(i) * time.Minute).Format(time.RFC3339)
		hist = append(hist,
			fmt.Sprintf(`{"tenant_id":"acme","host":"host-a","metric":"cpu_load","value":%d,"ts_event":%q,"unit":"percent"}`, 40+2*(14-i), ts),
			fmt.Sprintf(`{"tenant_id":"acme","host":"host-b","metric":"cpu_load","value":%d,"ts_event":%q,"unit":"percent"}`, 20+i, ts))
	}
	kcat(t, `acme/host-a|{"owner":"team-infra","region":"eu-west-1","service":"checkout","tags":{"tier":"1"}}`+"\n",
		"-b", p.Kafka[0], "-t", "meta.source.v1", "-P", "-K", "|", "-X", "topic.partitioner=fnv1a_random")
	postIngest(t, p.HTTP, key, strings.Join(hist, "\n"), 24)
	// Two silences, one of them expired at once: the panel shows each with
	// its state, the one that mutes first.
	ends := time.Now().Add(2 * time.Hour).UTC().Format(time.RFC3339)
	var ids []string
	for _, host := range []string{"web-1", "web-2"} {
		var created struct {
			ID string `json:"id"`
		}
		sendJSON(t, http.MethodPost, p.HTTP+"/silences", key,
			fmt.Sprintf(`{"tenant":"acme","matchers":[%q],"ends_at":%q,"created_by":"test","comment":"maintenance"}`, fmt.Sprintf("host=%q", host), ends), &created)
		ids = append(ids, created.ID)
	}
	sendJSON(t, http.MethodDelete, p.HTTP+"/silences/"+ids[0]+"?tenant=acme", key, "", nil)

	ctx := newBrowser(t)
	page := p.HTTP + "/#tenant=acme&host=host-a&metric=cpu_load&range=900"
	var jsErrs []string
	var mu sync.Mutex
	if err := chromedp.Listen(ctx, func(ev any) {
		if e, ok := ev.(*runtime.EventExceptionThrown); ok {
			mu.Lock()
			d := e.ExceptionDetails
			msg := d.Text
			if d.Exception != nil {
				msg += " " + d.Exception.Description
			}
			jsErrs = append(jsErrs, fmt.Sprintf("%s:%d: %s", d.URL, d.LineNumber+1, msg))
			mu.Unlock()
		}
	}); err != nil {
		t.Fatal(err)
	}
	failed := recordFailedResponses(t, ctx)
	if err := chromedp.Do(ctx, chromedp.Navigate(page)); err != nil {
		t.Fatalf("chromium: %v", err)
	}
	// Keys are required: the login form, then the session cookie.
	waitJS(t, ctx, 15*time.Second, "the login form shows", `!document.getElementById('login').hidden`)
	if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.ID("key"), key)); err != nil {
		t.Fatal(err)
	}
	clickJS(t, ctx, `#login-form button[type="submit"]`)
	waitJS(t, ctx, 15*time.Second, "logged in, the stream live",
		`document.getElementById('login').hidden && document.getElementById('live').classList.contains('on')`)
	who, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("who")))
	if err != nil || who != "tenant acme" {
		t.Fatalf("who: %q %v", who, err)
	}
	waitJS(t, ctx, 30*time.Second, "the history on the chart", `Number(document.getElementById('chart').dataset.points) >= 12`)

	// The event that fires HighCPU (avg over 1m above 90).
	postIngest(t, p.HTTP, key, fmt.Sprintf(`{"tenant_id":"acme","host":"host-a","metric":"cpu_load","value":97,"ts_event":%q,"unit":"percent"}`,
		time.Now().UTC().Format(time.RFC3339Nano)), 1)
	sent := time.Now()
	waitJS(t, ctx, 20*time.Second, "the alert in the feed",
		`!!document.querySelector('#feed li.alert[data-state="firing"][data-host="host-a"]')`)
	t.Logf("alert in the feed %s after POST /ingest answered", time.Since(sent).Round(time.Millisecond))
	feed, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("feed")))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"HighCPU", "host-a", "firing", "critical"} {
		if !strings.Contains(feed, want) {
			t.Errorf("feed %q lacks %q", feed, want)
		}
	}
	// The alert explains itself: opened, its explanation shows the
	// condition, the feature it read with its samples, and the sample.
	waitJS(t, ctx, 10*time.Second, "the alert's explanation",
		`(() => {
			const why = document.querySelector('#feed li.alert[data-state="firing"][data-host="host-a"] details.why');
			if (!why) return false;
			why.open = true;
			const text = why.textContent;
			return why.checkVisibility() && text.includes('expr: avg("cpu_load", "1m") > 90') && text.includes('above 90') &&
				!!why.querySelector('tr[data-feature="avg(cpu_load,1m)"]') && text.includes('cpu_load = 97') && text.includes('ingest.raw.agent/');
		})()`)
	ackFromAlertView(t, ctx, "host-a", "dashboard test")
	waitJS(t, ctx, 20*time.Second, "the point on the chart",
		`document.getElementById('chart').dataset.last === '97' && !!document.querySelector('#chart canvas')`)
	waitJS(t, ctx, 20*time.Second, "sources with metadata, live features, rules",
		`!!document.querySelector('#sources li[data-host="host-b"]') && document.getElementById('sources').textContent.includes('checkout') &&
		 !!document.querySelector('#features tr[data-metric="cpu_load"]') && document.getElementById('rules').textContent.includes('HighCPU')`)

	// Loaded with the tenant, or (refused while the tenant's query slots
	// were taken) on a retry a few seconds later: well before the minute's
	// refresh, which the wait must not reach.
	waitJS(t, ctx, 5*time.Second, "the silences by state, the active one first",
		`Array.from(document.querySelectorAll('#silences li')).map((li) => li.dataset.state).join() === 'active,expired' &&
		 document.querySelector('#silences li[data-state="expired"]').textContent.includes('web-1')`)

	// Two cores of cpu_load are two more lines of the chart, named by their
	// tags in its legend; the alert of the hot one shows its tags.
	at := time.Now().UTC().Format(time.RFC3339Nano)
	postIngest(t, p.HTTP, key, fmt.Sprintf(`{"tenant_id":"acme","host":"host-a","metric":"cpu_load","value":10,"ts_event":%q,"tags":{"core":"0"}}`+"\n"+
		`{"tenant_id":"acme","host":"host-a","metric":"cpu_load","value":99,"ts_event":%q,"tags":{"core":"1"}}`, at, at), 2)
	waitJS(t, ctx, 30*time.Second, "a line per series with its tags in the legend",
		`document.getElementById('chart').dataset.series === '3' && document.getElementById('chart').textContent.includes('cpu_load{core="1"}')`)
	waitJS(t, ctx, 20*time.Second, "the alert of the hot core with its tags",
		`!!document.querySelector("#feed li.alert[data-state=firing][data-tags='{core=\"1\"}']")`)

	if path := os.Getenv("EVENTOPS_SCREENSHOT"); path != "" {
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot saved to %s", path)
	}
	// The service's own metrics, without a key: lag per group and
	// partition, request durations by route pattern, HTTP ingest.
	resp, err := http.Get(p.HTTP + "/-/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`eventops_consumer_lag{group="eventops-sink",partition="`, `eventops_sse_clients 1`,
		`eventops_http_request_duration_seconds_count{code="200",method="GET",route="/metrics/:name"}`,
		`eventops_http_ingest_events_total{outcome="accepted",reason=""} 27`} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("/-/metrics lacks %s", want)
		}
	}
	// The dashboard keeps to the tenant's query slots (nothing else uses
	// them meanwhile): none of its requests was refused.
	for _, f := range failed() {
		if strings.Contains(f, " 429 ") {
			t.Errorf("a request of the dashboard was refused: %s", f)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(jsErrs) > 0 {
		t.Fatalf("JavaScript errors: %v", jsErrs)
	}
}

// recordFailedResponses logs every response of the page with a status
// of 400 or more when the test ends; it returns
// them so far.
func recordFailedResponses(t *testing.T, ctx context.Context) func() []string {
	t.Helper()
	var mu sync.Mutex
	var failed []string
	// chromedp enables the Network domain on every target it attaches.
	if err := chromedp.Listen(ctx, func(ev any) {
		if e, ok := ev.(*network.EventResponseReceived); ok && e.Response.Status >= 400 {
			mu.Lock()
			failed = append(failed, fmt.Sprintf("%s %d %s", time.Now().UTC().Format("15:04:05.000"), e.Response.Status, e.Response.URL))
			mu.Unlock()
		}
	}); err != nil {
		t.Fatal(err)
	}
	get := func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), failed...)
	}
	t.Cleanup(func() {
		for _, f := range get() {
			t.Logf("failed response: %s", f)
		}
	})
	return get
}

// waitJS polls a JavaScript condition in the page until it holds.
func waitJS(t *testing.T, ctx context.Context, timeout time.Duration, what, expr string) {
	t.Helper()
	timeout = patience(timeout)
	deadline := time.Now().Add(timeout)
	for {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr))
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			body, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
			t.Fatalf("%s: not within %s (%v); the page shows:\n%s", what, timeout, err, body)
		}
		<-time.After(25 * time.Millisecond) // the poll interval
	}
}

// clickJS clicks the first element selector matches with the element's
// own click(), which fires what a user's click does. A click at the
// element's coordinates (chromedp.Click) lands on whatever is there when
// the page's layout moved between finding the element and clicking, as it
// does when a panel above it finishes loading.
func clickJS(t *testing.T, ctx context.Context, selector string) {
	t.Helper()
	sel, _ := json.Marshal(selector)
	ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => { const e = document.querySelector(`+string(sel)+`);
		if (!e) return false; e.click(); return true; })()`))
	if err != nil || !ok {
		t.Fatalf("clicking %s: %v (found: %v)", selector, err, ok)
	}
}

// postIngest sends NDJSON to POST /ingest with key and checks that want
// events were accepted.
func postIngest(t *testing.T, base, key, body string, want int) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, base+"/ingest", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/x-ndjson")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 202 || !strings.Contains(string(b), fmt.Sprintf(`"accepted":%d,`, want)) {
		t.Fatalf("POST /ingest: %d %s", resp.StatusCode, b)
	}
}

// sendJSON sends body with key and decodes a 2xx answer into v (when set).
func sendJSON(t *testing.T, method, url, key, body string, v any) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		t.Fatalf("%s %s: %d %s", method, url, resp.StatusCode, b)
	}
	if v != nil {
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("%s %s: %v: %s", method, url, err, b)
		}
	}
}

// newBrowser starts a headless Chromium for the test, on a blank page.
// -short leaves out the tests that need a browser.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	if testing.Short() {
		t.Skip("needs Chromium: left out by -short")
	}
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("the browser test needs Debian's chromium (scripts/deps.sh test installs it): %v", err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:0:0],
		chromedp.ExecPath(chromium),
		chromedp.Flag("headless", true), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1440, 1100),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	// No timeout on the browser's context: it would stop the browser; every
	// wait below has its own deadline.
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("chromium: %v", err)
	}
	return ctx
}

// Without a tenant in the URL the dashboard opens on the tenant that sent
// last (a load generator's, say), not on the first name.
func TestDashboardOpensOnTheNewestTenant(t *testing.T) {
	t.Parallel()
	p := newDevEnv(t).start(t)
	now := time.Now().UTC()
	postIngest(t, p.HTTP, "", fmt.Sprintf(`{"tenant_id":"acme","host":"host-a","metric":"cpu_load","value":40,"ts_event":%q}`+"\n"+
		`{"tenant_id":"tenant-00","host":"host-00000","metric":"cpu_load","value":40,"ts_event":%q}`,
		now.Add(-time.Hour).Format(time.RFC3339), now.Format(time.RFC3339)), 2)
	eventually(t, patience(30*time.Second), "both tenants listed", func() error {
		var body struct{ Tenants []struct{ Tenant string } }
		if _, err := getJSON(p.HTTP+"/tenants", &body); err != nil || len(body.Tenants) != 2 {
			return fmt.Errorf("tenants %+v %v", body, err)
		}
		return nil
	})
	ctx := newBrowser(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(p.HTTP+"/")); err != nil {
		t.Fatalf("chromium: %v", err)
	}
	waitJS(t, ctx, 15*time.Second, "the newest tenant chosen", `document.getElementById('tenant').value === 'tenant-00' && location.hash.includes('tenant=tenant-00')`)
}
