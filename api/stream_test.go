package api_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/eventops/eventops/api"
)

// frame is one SSE event; a heartbeat with an id is event "".
type frame struct{ id, event, data string }

// sseClient reads one stream.
type sseClient struct {
	t      testing.TB
	resp   *http.Response
	frames chan frame
	closed chan struct{}
}

func openStream(t testing.TB, base, query string, headers ...string) (*sseClient, int) {
	t.Helper()
	req, err := http.NewRequest("GET", base+"/alerts/stream"+query, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		resp.Body.Close()
		return nil, resp.StatusCode
	}
	c := &sseClient{t: t, resp: resp, frames: make(chan frame, 10_000), closed: make(chan struct{})}
	go func() {
		defer close(c.closed)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		var f frame
		hasID := false
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if f.event != "" || hasID {
					c.frames <- f
				}
				f, hasID = frame{}, false
			case strings.HasPrefix(line, "id: "):
				f.id, hasID = line[4:], true
			case strings.HasPrefix(line, "event: "):
				f.event = line[7:]
			case strings.HasPrefix(line, "data: "):
				f.data = line[6:]
			}
		}
	}()
	t.Cleanup(func() { resp.Body.Close() })
	return c, 200
}

// next returns the next event frame (heartbeats skipped unless beats).
func (c *sseClient) next(timeout time.Duration, beats bool) frame {
	c.t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case f := <-c.frames:
			if f.event == "" && !beats {
				continue
			}
			return f
		case <-c.closed:
			c.t.Fatal("stream ended")
		case <-deadline:
			c.t.Fatalf("no event within %s", timeout)
		}
	}
}

// events reads n events.
func (c *sseClient) events(n int) []frame {
	c.t.Helper()
	var out []frame
	for range n {
		out = append(out, c.next(30*time.Second, false))
	}
	return out
}

func alertEv(p int32, off int64, tenant, host, ep, state, sev string) api.AlertEvent {
	data := fmt.Sprintf(`{"tenant":%q,"host":%q,"episode_id":%q,"state":%q,"severity":%q,"alertname":"HighCPU"}`, tenant, host, ep, state, sev)
	return api.AlertEvent{Partition: p, Offset: off, Data: []byte(data), Tenant: tenant, Host: host, EpisodeID: ep,
		State: state, Severity: sev, At: time.Unix(off, 0)}
}

// serve runs srv on a loopback listener until the test ends.
func serve(t testing.TB, srv *api.Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve: %v", err)
			}
		case <-time.After(time.Minute):
			t.Error("the server did not stop")
		}
	})
	return "http://" + ln.Addr().String()
}

func datas(fs []frame) string {
	var b []string
	for _, f := range fs {
		ep := f.data[strings.Index(f.data, `"episode_id":"`)+14:]
		ep = ep[:strings.IndexByte(ep, '"')]
		st := f.data[strings.Index(f.data, `"state":"`)+9:]
		st = st[:strings.IndexByte(st, '"')]
		b = append(b, ep+"/"+st)
	}
	return strings.Join(b, " ")
}

// A client that reconnects with the id of the last event it got receives
// exactly what it missed, from the same hub or another one that read the
// same topic; without an id it gets the active alerts.
func TestStreamResumesWithLastEventID(t *testing.T) {
	feed := func(h *api.Hub, evs []api.AlertEvent) {
		for _, e := range evs {
			h.Publish(e)
		}
	}
	hubA, hubB := api.NewHub(api.HubOptions{Logger: quiet}), api.NewHub(api.HubOptions{Logger: quiet})
	hubA.Init(api.Position{0, 0, 0}, time.Time{})
	hubA.MarkReady()
	hubB.Init(api.Position{0, 0, 0}, time.Time{})
	hubB.MarkReady()
	baseA := serve(t, api.New(api.Options{Hub: hubA, Logger: quiet, Heartbeat: time.Hour}))
	baseB := serve(t, api.New(api.Options{Hub: hubB, Logger: quiet, Heartbeat: time.Hour}))

	first := []api.AlertEvent{
		alertEv(0, 0, "acme", "h1", "e1", "firing", "critical"),
		alertEv(1, 0, "acme", "h2", "e2", "firing", "warning"),
		alertEv(2, 0, "acme", "h3", "e3", "pending", "critical"),
	}
	feed(hubA, first)
	feed(hubB, first)
	c, _ := openStream(t, baseA, "")
	snap := c.events(3)
	if got := datas(snap); got != "e1/firing e2/firing e3/pending" {
		t.Fatalf("snapshot %s", got)
	}
	if snap[2].id != "1.1.1" {
		t.Fatalf("id %q", snap[2].id)
	}
	more := []api.AlertEvent{alertEv(0, 1, "acme", "h1", "e1", "resolved", "critical"), alertEv(2, 1, "acme", "h3", "e3", "firing", "critical")}
	feed(hubA, more)
	feed(hubB, more)
	live := c.events(2)
	if datas(live) != "e1/resolved e3/firing" || live[0].id != "2.1.1" || live[1].id != "2.1.2" {
		t.Fatalf("live %+v", live)
	}
	lastID := live[0].id // the client lost the second one
	c.resp.Body.Close()

	missed := []api.AlertEvent{
		alertEv(1, 1, "acme", "h2", "e2", "resolved", "warning"),
		alertEv(0, 2, "acme", "h1", "e4", "firing", "critical"),
	}
	feed(hubA, missed)
	feed(hubB, missed)
	for name, base := range map[string]string{"same replica": baseA, "other replica": baseB} {
		r, _ := openStream(t, base, "", "Last-Event-ID", lastID)
		got := r.events(3)
		if datas(got) != "e3/firing e2/resolved e4/firing" {
			t.Fatalf("%s: resumed with %s", name, datas(got))
		}
		if got[2].id != "3.2.2" {
			t.Fatalf("%s: ids %+v", name, got)
		}
		r.resp.Body.Close()
	}
	// A filtered resume: only what matches.
	r, _ := openStream(t, baseB, "?severity=warning", "Last-Event-ID", "0.0.0")
	if got := datas(r.events(2)); got != "e2/firing e2/resolved" {
		t.Fatalf("filtered resume %s", got)
	}
	// Garbage or a position of another topic layout: reset, then the active alerts.
	for _, id := range []string{"garbage", "1.2"} {
		r, _ := openStream(t, baseA, "", "Last-Event-ID", id)
		got := r.events(3)
		if got[0].event != "reset" || datas(got[1:]) != "e3/firing e4/firing" {
			t.Fatalf("%s: %+v", id, got)
		}
		r.resp.Body.Close()
	}
}

// A client that missed more than the hub keeps gets a reset and the active
// alerts, never a silent gap.
func TestStreamResetWhenTooFarBehind(t *testing.T) {
	reg := prometheus.NewRegistry()
	hub := api.NewHub(api.HubOptions{Logger: quiet, Replay: 3, Registerer: reg})
	hub.Init(api.Position{0}, time.Time{})
	hub.MarkReady()
	base := serve(t, api.New(api.Options{Hub: hub, Logger: quiet, Heartbeat: time.Hour}))
	for i := range 6 {
		hub.Publish(alertEv(0, int64(i), "acme", "h", fmt.Sprintf("e%d", i), "firing", "critical"))
	}
	// Offsets 3..5 are kept: a resume from 3 is served, from 2 is not.
	r, _ := openStream(t, base, "", "Last-Event-ID", "3")
	if got := datas(r.events(2)); got != "e3/firing e4/firing" {
		t.Fatalf("resume from 3: %s", got)
	}
	r, _ = openStream(t, base, "", "Last-Event-ID", "2")
	got := r.events(7)
	if got[0].event != "reset" || len(strings.Fields(datas(got[1:]))) != 6 {
		t.Fatalf("resume from 2: %+v", got)
	}
	if n := testutil.ToFloat64(findCounter(t, reg, "eventops_sse_resume_resets_total")); n != 1 {
		t.Fatalf("resets %v", n)
	}
}

// Heartbeats carry the hub's position once the client has everything, so
// that a narrow filter's position does not fall out of the replay ring.
func TestStreamHeartbeatAdvancesID(t *testing.T) {
	hub := api.NewHub(api.HubOptions{Logger: quiet})
	hub.Init(api.Position{0, 0}, time.Time{})
	hub.MarkReady()
	base := serve(t, api.New(api.Options{Hub: hub, Logger: quiet, Heartbeat: 20 * time.Millisecond}))
	c, _ := openStream(t, base, "?host=quiet-host")
	for i := range 5 {
		hub.Publish(alertEv(int32(i%2), int64(i/2), "acme", "busy", fmt.Sprintf("e%d", i), "firing", "critical"))
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		f := c.next(30*time.Second, true)
		if f.event != "" {
			t.Fatalf("filtered event delivered: %+v", f)
		}
		if f.id == "3.2" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("heartbeat id %q never reached 3.2", f.id)
		}
	}
}

// A client that does not read is dropped (and counted) when its buffer is
// full; the others go on. Shutting the server down ends every stream.
func TestStreamDropsLaggingClientAndEndsOnShutdown(t *testing.T) {
	reg := prometheus.NewRegistry()
	hub := api.NewHub(api.HubOptions{Logger: quiet, ClientBuffer: 4, Registerer: reg})
	hub.Init(api.Position{0}, time.Time{})
	hub.MarkReady()
	srv := api.New(api.Options{Hub: hub, Logger: quiet, Heartbeat: time.Hour, ShutdownTimeout: 30 * time.Second})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	base := "http://" + ln.Addr().String()

	reader, _ := openStream(t, base, "")
	// The lagging client: a raw connection that never reads, with a
	// receive buffer too small for what follows.
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.(*net.TCPConn).SetReadBuffer(4096)
	fmt.Fprintf(conn, "GET /alerts/stream HTTP/1.1\r\nHost: localhost\r\n\r\n")
	clients := findGauge(t, reg, "eventops_sse_clients")
	eventually(t, time.Minute, func() bool { return testutil.ToFloat64(clients) == 2 })

	payload := strings.Repeat("x", 8000)
	dropped := findCounter(t, reg, "eventops_sse_dropped_clients_total")
	for i := 0; testutil.ToFloat64(dropped) == 0; i++ {
		if i > 5000 {
			t.Fatal("the lagging client was never dropped")
		}
		e := alertEv(0, int64(i), "acme", "h", fmt.Sprintf("e%d", i), "resolved", "info")
		e.Data = []byte(strings.Replace(string(e.Data), `"alertname"`, `"pad":"`+payload+`","alertname"`, 1))
		hub.Publish(e)
		// The reader keeps up.
		reader.next(30*time.Second, false)
	}
	if n := testutil.ToFloat64(clients); n != 1 {
		t.Fatalf("clients %v after the drop", n)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Minute):
		t.Fatal("shutdown did not end the open stream")
	}
	select {
	case <-reader.closed:
	case <-time.After(time.Minute):
		t.Fatal("the reader's stream is still open")
	}
}

func TestStreamParameters(t *testing.T) {
	hub := api.NewHub(api.HubOptions{Logger: quiet})
	srv := api.New(api.Options{Hub: hub, Logger: quiet})
	problem(t, srv, "/alerts/stream?state=burning", 400, `unknown state "burning"`)
	problem(t, srv, "/alerts/stream?tenant=a&sevrity=x", 400, `unknown parameter "sevrity"`)
	problem(t, api.New(api.Options{Logger: quiet}), "/alerts/stream", 503)
}

func TestPosition(t *testing.T) {
	for _, s := range []string{"0", "1.2.3", "9223372036854775807.0"} {
		p, err := api.ParsePosition(s)
		if err != nil || p.String() != s {
			t.Fatalf("%s: %v %v", s, p, err)
		}
	}
	for _, s := range []string{"", "a", "1..2", "-1", "1.-2", "1.2."} {
		if _, err := api.ParsePosition(s); err == nil {
			t.Fatalf("%q parsed", s)
		}
	}
}

func findMetric(t testing.TB, reg *prometheus.Registry, name string) prometheus.Collector {
	t.Helper()
	return collectorByName{reg, name}
}

// collectorByName re-gathers one metric family from a registry.
type collectorByName struct {
	reg  *prometheus.Registry
	name string
}

func (c collectorByName) Describe(ch chan<- *prometheus.Desc) { prometheus.DescribeByCollect(c, ch) }
func (c collectorByName) Collect(ch chan<- prometheus.Metric) {
	mfs, _ := c.reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() != c.name {
			continue
		}
		for _, m := range mf.GetMetric() {
			v := m.GetCounter().GetValue() + m.GetGauge().GetValue()
			ch <- prometheus.MustNewConstMetric(prometheus.NewDesc(c.name, "", nil, nil), prometheus.UntypedValue, v)
		}
	}
}

func findCounter(t testing.TB, reg *prometheus.Registry, name string) prometheus.Collector {
	return findMetric(t, reg, name)
}

func findGauge(t testing.TB, reg *prometheus.Registry, name string) prometheus.Collector {
	return findMetric(t, reg, name)
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s", timeout)
		}
		<-time.After(10 * time.Millisecond) // the poll interval
	}
}

// A transition written over several lines leaves as one data line, and a
// record of the topic that is not a transition is not sent: only the
// stream's position moves past it.
func TestStreamSendsOneLinePerTransitionAndSkipsOtherRecords(t *testing.T) {
	hub := api.NewHub(api.HubOptions{Logger: quiet})
	hub.Init(api.Position{0}, time.Time{})
	hub.MarkReady()
	base := serve(t, api.New(api.Options{Hub: hub, Logger: quiet, Heartbeat: time.Hour}))
	c, _ := openStream(t, base, "")
	pretty := alertEv(0, 0, "acme", "h1", "e1", "firing", "critical")
	pretty.Data = []byte("{\n  \"tenant\": \"acme\",\r\n  \"episode_id\": \"e1\"\n}")
	hub.Publish(pretty)
	hub.Publish(api.AlertEvent{Partition: 0, Offset: 1, Data: []byte("not a transition"), At: time.Unix(1, 0)})
	hub.Publish(alertEv(0, 2, "acme", "h2", "e2", "firing", "critical"))
	got := c.events(2)
	if got[0].id != "1" || got[0].data != `{"tenant":"acme","episode_id":"e1"}` {
		t.Fatalf("first frame %+v", got[0])
	}
	if got[1].id != "3" || !strings.Contains(got[1].data, `"episode_id":"e2"`) {
		t.Fatalf("second frame %+v, want the transition at offset 2 with id 3", got[1])
	}
}
