package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// The dashboard's rule preview: on the chart of cpu_load of a source that
// ran hot for ten minutes of the last hour, previewing a rule draws its
// would-be firing span over the chart where the source was hot (its data
// attributes give the times, its place is where the chart puts them), and
// says one episode would have fired; another range of the chart drops
// it; a rule that never holds draws none; a rule that does not load says
// why.
func TestDashboardPreviewsARule(t *testing.T) {
	t.Parallel()
	p := newDevEnv(t).start(t, "--flush-interval", "1s")
	// cpu_load of preview-1 every 15 s from 40 to 5 minutes ago: 50, and
	// 95 from 30 to 20 minutes ago.
	now := time.Now().UTC().Truncate(time.Second)
	hot, cool := now.Add(-30*time.Minute), now.Add(-20*time.Minute)
	var lines []string
	n := 0
	for ts := now.Add(-40 * time.Minute); ts.Before(now.Add(-5 * time.Minute)); ts = ts.Add(15 * time.Second) {
		v := 50
		if !ts.Before(hot) && ts.Before(cool) {
			v = 95
		}
		lines = append(lines, fmt.Sprintf(`{"tenant_id":"acme","host":"preview-1","metric":"cpu_load","value":%d,"ts_event":%q,"unit":"percent"}`,
			v, ts.Format(time.RFC3339)))
		n++
	}
	postIngest(t, p.HTTP, "", strings.Join(lines, "\n"), n)

	ctx := newBrowser(t)
	recordFailedResponses(t, ctx)
	var jsErrs atomic.Int64
	if err := chromedp.Listen(ctx, func(ev any) {
		if e, ok := ev.(*runtime.EventExceptionThrown); ok {
			jsErrs.Add(1)
			t.Logf("JavaScript error: %s %v", e.ExceptionDetails.Text, e.ExceptionDetails.Exception)
		}
	}); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(p.HTTP+"/#tenant=acme&host=preview-1&metric=cpu_load")); err != nil {
		t.Fatalf("chromium: %v", err)
	}
	waitJS(t, ctx, 30*time.Second, "the history on the chart", fmt.Sprintf(`Number(document.getElementById('chart').dataset.points) >= %d`, n))
	waitJS(t, ctx, 5*time.Second, "the preview control, pre-filled from HighCPU", `document.getElementById('preview-expr').value === 'avg("cpu_load", "1m") > 90'`)

	preview := func(expr, forText string) {
		t.Helper()
		js := fmt.Sprintf(`(() => {
			document.getElementById('preview-expr').value = %q;
			document.getElementById('preview-for').value = %q;
			document.getElementById('preview-run').click();
			return true;
		})()`, expr, forText)
		if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](js)); err != nil {
			t.Fatal(err)
		}
	}

	preview(`avg("cpu_load", "1m") > 90`, "1m")
	waitJS(t, ctx, 30*time.Second, "one would-be firing span drawn", `document.getElementById('preview').dataset.fired === '1' &&
		document.querySelectorAll('#chart svg.preview-spans rect[data-state="firing"]').length === 1`)
	text, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("preview-result")))
	if err != nil || !strings.Contains(text, "1 episode would have fired") {
		t.Fatalf("the preview says %q (%v)", text, err)
	}
	firing, err := chromedp.Run(ctx, chromedp.Evaluate[drawnSpan](`(() => {
		const r = document.querySelector('#chart svg.preview-spans rect[data-state="firing"]');
		const u = state.plot;
		return { from: r.dataset.from, to: r.dataset.to, host: r.dataset.host,
			x: Number(r.getAttribute('x')), w: Number(r.getAttribute('width')),
			wantX: u.valToPos(Date.parse(r.dataset.from) / 1000, 'x'), wantEnd: u.valToPos(Date.parse(r.dataset.to) / 1000, 'x'),
			height: Number(r.getAttribute('height')), plotH: u.under.clientHeight,
			pending: document.querySelectorAll('#chart svg.preview-spans rect[data-state="pending"]').length };
	})()`))
	if err != nil {
		t.Fatal(err)
	}
	from, err1 := time.Parse(time.RFC3339Nano, firing.From)
	to, err2 := time.Parse(time.RFC3339Nano, firing.To)
	if err1 != nil || err2 != nil {
		t.Fatalf("firing span %+v", firing)
	}
	// Pending once the one-minute average passes 90 (within a minute of
	// the hot spell's start), firing a minute later, resolved once the
	// average falls back under 90 (within a minute of its end).
	if from.Before(hot.Add(time.Minute)) || from.After(hot.Add(2*time.Minute+time.Second)) || to.Before(cool) || to.After(cool.Add(time.Minute)) ||
		firing.Host != "preview-1" || firing.Pending != 1 {
		t.Fatalf("firing span %+v, want from about %s to about %s, after one pending span", firing, hot.Add(time.Minute), cool)
	}
	// Drawn where the chart puts those times, across the plot's height.
	if d := firing.X - firing.WantX; d < -1 || d > 1 || firing.X+firing.W < firing.WantEnd-1 || firing.X+firing.W > firing.WantEnd+1 ||
		firing.W < 20 || firing.Height != firing.PlotH {
		t.Fatalf("firing span drawn at x %.1f width %.1f height %.1f, want x %.1f to %.1f over %.1f", firing.X, firing.W, firing.Height, firing.WantX, firing.WantEnd, firing.PlotH)
	}

	// Another range on the chart: the preview was of the range before, so
	// its bands and count go rather than show the new range as quiet
	// where it was never replayed.
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => { document.querySelector('.ranges button[data-range="21600"]').click(); return true; })()`)); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, 30*time.Second, "the preview of the range before gone", `state.range === 21600 &&
		document.querySelectorAll('#chart svg.preview-spans rect').length === 0 &&
		document.getElementById('preview').dataset.fired === '' && document.getElementById('preview-result').textContent === ''`)

	// A rule that never holds draws nothing, and says so.
	preview(`avg("cpu_load", "1m") > 99`, "")
	waitJS(t, ctx, 30*time.Second, "no span for a rule that never holds", `document.getElementById('preview').dataset.episodes === '0' &&
		document.querySelectorAll('#chart svg.preview-spans rect').length === 0 &&
		document.getElementById('preview-result').textContent.includes('would not have fired')`)

	// A rule that does not load: the API's problem, under the control.
	preview(`avg("cpu_load", "7m") > 90`, "")
	waitJS(t, ctx, 30*time.Second, "the error shown", `document.getElementById('preview-error').textContent.includes('window "7m" is not a configured window') &&
		document.getElementById('preview').dataset.episodes === ''`)
	if n := jsErrs.Load(); n > 0 {
		t.Fatalf("%d JavaScript errors", n)
	}
}

// drawnSpan is a span as the preview draws it, and where the chart puts
// its times.
type drawnSpan struct {
	From, To, Host string
	X, W           float64
	WantX, WantEnd float64
	Height, PlotH  float64
	Pending        int
}

// The README's preview example, sent as written after the quick start's
// point: one episode of host-a's series, pending at the point, firing a
// minute later (its for), still open at the end of the range.
func TestReadmePreviewsARule(t *testing.T) {
	t.Parallel()
	var body string
	for _, b := range readmeFencedBlocks(t) {
		if b.heading == "Preview a rule" && b.lang == "sh" {
			_, rest, ok := strings.Cut(b.body, "-d '")
			body, _, _ = strings.Cut(rest, "'")
			if !ok || body == "" {
				t.Fatalf("the README's preview sends no body:\n%s", b.body)
			}
		}
	}
	if body == "" {
		t.Fatal("the README has no preview example")
	}
	p := newDevEnv(t).start(t, "--flush-interval", "1s")
	postIngest(t, p.HTTP, "", quickStartInput(t), 1)
	var answer struct {
		Episodes, Fired int
		Spans           []struct {
			Host      string
			Tags      map[string]string
			PendingAt time.Time `json:"pending_at"`
			FiringAt  time.Time `json:"firing_at"`
			EndAt     time.Time `json:"end_at"`
		}
		Stats struct{ Samples int }
	}
	eventually(t, patience(30*time.Second), "the point replayed", func() error {
		req, _ := http.NewRequest(http.MethodPost, p.HTTP+"/rules/backtest?tenant=acme", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			return fmt.Errorf("%d %s", resp.StatusCode, b)
		}
		if err := json.Unmarshal(b, &answer); err != nil || answer.Stats.Samples != 1 {
			return fmt.Errorf("%s (%v)", b, err)
		}
		return nil
	})
	at := time.Date(2025, 10, 21, 10, 0, 0, 0, time.UTC)
	if answer.Episodes != 1 || answer.Fired != 1 || len(answer.Spans) != 1 {
		t.Fatalf("%+v", answer)
	}
	sp := answer.Spans[0]
	if sp.Host != "host-a" || sp.Tags["env"] != "prod" || !sp.PendingAt.Equal(at) || !sp.FiringAt.Equal(at.Add(time.Minute)) || !sp.EndAt.IsZero() {
		t.Fatalf("span %+v, want pending at %s, firing a minute later, still open", sp, at)
	}
}
