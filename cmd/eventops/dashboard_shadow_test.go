package main

import (
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// A shadow rule's episode shows in the live feed beside the live rule's,
// with a "shadow" badge, out of the firing count; the shadow checkbox
// hides and shows it.
func TestDashboardShowsShadowEpisodes(t *testing.T) {
	t.Parallel()
	hook := newReceiver(t, func(int) int { return 200 })
	n := newNotifyEnvRules(t, shadowRules, alertingFile(hook.srv.URL, 100))
	p := n.start()
	ctx := newBrowser(t)
	recordFailedResponses(t, ctx)
	if err := chromedp.Do(ctx, chromedp.Navigate(p.HTTP+"/#tenant=acme")); err != nil {
		t.Fatalf("chromium: %v", err)
	}
	waitJS(t, ctx, 15*time.Second, "the stream live", `document.getElementById('live').classList.contains('on')`)
	var last time.Time
	sendTemp(t, p, &last, 90)
	waitJS(t, ctx, 20*time.Second, "the shadow episode badged beside the live one", `(() => {
		const trial = [...document.querySelectorAll('#feed li.alert')].find((li) => li.querySelector('.name').textContent === 'HotTrial');
		const live = [...document.querySelectorAll('#feed li.alert')].find((li) => li.querySelector('.name').textContent === 'Hot');
		return !!trial && !!live && trial.dataset.state === 'firing' && live.dataset.state === 'firing' &&
			trial.dataset.shadow === 'true' && !!trial.querySelector('.top .badge.shadow') &&
			!live.dataset.shadow && !live.querySelector('.badge.shadow') &&
			trial.offsetParent !== null && document.getElementById('feed-count').textContent === '1 firing';
	})()`)
	clickJS(t, ctx, `#f-shadow`)
	waitJS(t, ctx, 5*time.Second, "the shadow episode hidden, the live one shown", `(() => {
		const items = [...document.querySelectorAll('#feed li.alert')];
		return items.length === 2 && items.every((li) => (li.offsetParent === null) === (li.dataset.shadow === 'true'));
	})()`)
	clickJS(t, ctx, `#f-shadow`)
	waitJS(t, ctx, 5*time.Second, "both shown again", `[...document.querySelectorAll('#feed li.alert')].every((li) => li.offsetParent !== null)`)
	// The rules panel says which rule runs in shadow.
	waitJS(t, ctx, 10*time.Second, "the shadow rule badged in the rules panel", `(() => {
		const li = [...document.querySelectorAll('#rules li')];
		const badged = li.filter((l) => l.querySelector('.badge.shadow')).map((l) => l.querySelector('strong').textContent);
		return li.length === 2 && badged.length === 1 && badged[0] === 'HotTrial';
	})()`)
	p.stop(60 * time.Second)
}
