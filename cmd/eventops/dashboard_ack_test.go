package main

import (
	"context"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// ackFromAlertView acknowledges host's firing alert from its entry in the
// dashboard's live feed and waits until the entry shows it acknowledged
// by actor, then notes it and waits for the note.
func ackFromAlertView(t *testing.T, ctx context.Context, host, actor string) {
	t.Helper()
	item := `#feed li.alert[data-state="firing"][data-host="` + host + `"]`
	waitJS(t, ctx, 20*time.Second, "the acknowledge button of the alert", `!!document.querySelector('`+item+` button.act-ack')`)
	clickJS(t, ctx, item+` button.act-ack`)
	waitJS(t, ctx, 20*time.Second, "the alert shown acknowledged",
		`(() => { const li = document.querySelector('`+item+`');
		  return li.dataset.acked === 'true' && li.querySelector('.activity').textContent.includes('acknowledged') &&
		    li.querySelector('.activity').textContent.includes('by `+actor+`') && !li.querySelector('button.act-ack') &&
		    li.dataset.activity === 'loaded'; })()`)
	if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS(item+` input.act-text`), "on it from the dashboard")); err != nil {
		t.Fatal(err)
	}
	clickJS(t, ctx, item+` button.act-note`)
	waitJS(t, ctx, 20*time.Second, "the note under the alert",
		`!!document.querySelector('`+item+` .act-notes') && document.querySelector('`+item+` .act-notes').textContent.includes('`+actor+`: on it from the dashboard')`)
}
