package main

import (
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/chromedp"
)

// A panel loaded once that fails (here a 429, as the API answers when a
// tenant's query slots are taken) says so, does not claim there is nothing
// to show, and loads again soon, well before its regular refresh.
func TestDashboardPanelsSayTheyFailedAndRetry(t *testing.T) {
	t.Parallel()
	p := newDevEnv(t).start(t)
	sendJSON(t, http.MethodPost, p.HTTP+"/silences", "", fmt.Sprintf(`{"tenant":"acme","matchers":["host=\"web-1\""],"ends_at":%q,"created_by":"test","comment":"maintenance"}`,
		time.Now().Add(time.Hour).UTC().Format(time.RFC3339)), nil)
	postIngest(t, p.HTTP, "", fmt.Sprintf(`{"tenant_id":"acme","host":"host-a","metric":"cpu_load","value":40,"ts_event":%q}`,
		time.Now().UTC().Format(time.RFC3339)), 1)

	ctx := newBrowser(t)
	// Every request of the three panels is refused until the test has seen
	// each panel say so.
	var refusing atomic.Bool
	var refused atomic.Int64
	refusing.Store(true)
	if err := chromedp.Listen(ctx, func(ev any) {
		e, ok := ev.(*fetch.EventRequestPaused)
		if !ok {
			return
		}
		// Commands may not run inside the listener.
		go func() {
			// An error here is the browser going away at the test's end.
			if refusing.Load() {
				refused.Add(1)
				_, _ = chromedp.Call(ctx, fetch.FulfillRequest, fetch.FulfillRequestParams{RequestID: e.RequestID, ResponseCode: 429,
					ResponseHeaders: []*fetch.HeaderEntry{{Name: "Content-Type", Value: "application/problem+json"}, {Name: "Retry-After", Value: "1"}},
					Body:            []byte(`{"title":"Too Many Requests","status":429,"detail":"tenant \"acme\" has 2 queries running, its limit: retry shortly"}`)})
			} else {
				_, _ = chromedp.Call(ctx, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: e.RequestID})
			}
		}()
	}); err != nil {
		t.Fatal(err)
	}
	var patterns []*fetch.RequestPattern
	// '?' matches any one character unless escaped (notifications.js).
	for _, path := range []string{`/rules\?*`, `/silences\?*`, `/notifications\?*`} {
		patterns = append(patterns, &fetch.RequestPattern{URLPattern: p.HTTP + path})
	}
	if _, err := chromedp.Call(ctx, fetch.Enable, fetch.EnableParams{Patterns: patterns}); err != nil {
		t.Fatal(err)
	}
	recordFailedResponses(t, ctx)
	if err := chromedp.Do(ctx, chromedp.Navigate(p.HTTP+"/#tenant=acme")); err != nil {
		t.Fatalf("chromium: %v", err)
	}
	waitJS(t, ctx, 15*time.Second, "each panel says it could not load and will try again", `['rules', 'silences', 'notifications'].every((id) => {
		const li = document.querySelector('#' + id + ' li.load-failed');
		return !!li && li.dataset.failed === '429' && li.textContent.includes('Could not load the ' + id) &&
			li.textContent.includes('retry shortly') && li.textContent.includes('trying again in 1 s');
	}) && document.getElementById('silences-empty').hidden && document.getElementById('notifications-empty').hidden`)
	refusing.Store(false)
	// The retry comes after the server's Retry-After (1 s); the regular
	// refresh of rules and silences would come after a minute.
	waitJS(t, ctx, 5*time.Second, "the panels loaded on their retry", `!document.querySelector('li.load-failed') &&
		document.getElementById('rules').textContent.includes('HighCPU') &&
		Array.from(document.querySelectorAll('#silences li')).map((li) => li.dataset.state).join() === 'active' &&
		!document.getElementById('notifications-empty').hidden`)
	// A refresh that fails leaves what the panel shows, marked as not
	// refreshed, and tries again as soon.
	refusing.Store(true)
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[any](`loadSilences(), null`)); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, 10*time.Second, "the silences kept, marked as not refreshed", `(() => {
		const list = document.getElementById('silences');
		return list.classList.contains('not-refreshed') && list.title.startsWith('Could not refresh the silences') &&
			Array.from(list.querySelectorAll('li')).map((li) => li.dataset.state).join() === 'active';
	})()`)
	refusing.Store(false)
	waitJS(t, ctx, 5*time.Second, "the silences refreshed on the retry", `!document.getElementById('silences').classList.contains('not-refreshed') &&
		!document.getElementById('silences').title`)
	if n := refused.Load(); n < 3 {
		t.Fatalf("%d requests refused, want one of each panel at least", n)
	}
	body, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
	if err != nil || strings.Contains(body, "Could not load") {
		t.Fatalf("the page still shows a failure (%v):\n%s", err, body)
	}
}
