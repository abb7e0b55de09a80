package main

import (
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// An alert that flaps shows a "flapping" badge in the live feed, on every
// entry of it, from what the notify stage holds (GET /flapping); an alert
// that fired once does not.
func TestDashboardShowsFlapping(t *testing.T) {
	t.Parallel()
	hook := newReceiver(t, func(int) int { return 200 })
	n := newNotifyEnvRules(t, flappingRules, alertingFile(hook.srv.URL, 100))
	p := n.start()
	ctx := newBrowser(t)
	recordFailedResponses(t, ctx)
	if err := chromedp.Do(ctx, chromedp.Navigate(p.HTTP+"/#tenant=acme")); err != nil {
		t.Fatalf("chromium: %v", err)
	}
	waitJS(t, ctx, 15*time.Second, "the stream live", `document.getElementById('live').classList.contains('on')`)
	n.send("h2", 90)
	// h1 fires and resolves: its fourth change (of 4 within 1h) makes it
	// flap, the fifth is held.
	n.alternate("h1", 5)
	n.logged("acme", "Hot", "h1", "firing", "flapping")
	var flapping struct {
		Alerts []struct{ Labels map[string]string }
	}
	if _, err := getJSON(p.HTTP+"/flapping?tenant=acme", &flapping); err != nil || len(flapping.Alerts) != 1 || flapping.Alerts[0].Labels["host"] != "h1" {
		t.Fatalf("GET /flapping: %+v %v", flapping, err)
	}
	waitJS(t, ctx, 10*time.Second, "h1's entries marked flapping, h2's not", `(() => {
		const h1 = [...document.querySelectorAll('#feed li.alert[data-host="h1"]')];
		const h2 = document.querySelector('#feed li.alert[data-host="h2"][data-state="firing"]');
		return h1.length >= 3 && h1.every((li) => li.dataset.flapping === 'true' && li.querySelector('.top .badge.flapping') &&
				li.querySelector('.badge.flapping').title.includes('4 state changes within 1h')) &&
			!!h2 && !h2.dataset.flapping && !h2.querySelector('.badge.flapping');
	})()`)
	p.stop(60 * time.Second)
}
