package api_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/eventops/eventops/api"
)

// Alert streams are capped per key, per tenant and in all: one more is a
// 429 problem, and a closed stream frees its place.
func TestStreamCaps(t *testing.T) {
	hub := api.NewHub(api.HubOptions{Logger: quiet})
	hub.Init(api.Position{0}, time.Time{})
	hub.MarkReady()
	srv := api.New(api.Options{Hub: hub, Logger: quiet, Keys: keysFor(t, "acme", "globex", "initech"), Heartbeat: time.Hour,
		StreamsPerKey: 2, StreamsPerTenant: 3, StreamsTotal: 4})
	base := serve(t, srv)
	open := func(key string) (*http.Response, int) {
		t.Helper()
		req, _ := http.NewRequest("GET", base+"/alerts/stream", nil)
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 200 {
			var p api.Problem
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 429 || json.Unmarshal(b, &p) != nil || resp.Header.Get("Content-Type") != "application/problem+json" {
				t.Fatalf("%d %s", resp.StatusCode, b)
			}
			return nil, 429
		}
		return resp, 200
	}
	a1, _ := open("key-acme")
	open("key-acme")
	if _, code := open("key-acme"); code != 429 {
		t.Fatal("a third stream of one key was opened (cap 2)")
	}
	// The admin key reads every tenant: it counts as tenant *.
	open("key-admin")
	if _, code := open("key-globex"); code != 200 {
		t.Fatal("globex could not open its first stream")
	}
	if _, code := open("key-initech"); code != 429 {
		t.Fatal("a fifth stream was opened (cap 4 in all)")
	}
	a1.Body.Close()
	off := int64(0)
	eventually(t, time.Minute, func() bool {
		// A closed client is seen when a write to it fails.
		hub.Publish(alertEv(0, off, "acme", "h", fmt.Sprintf("e%d", off), "firing", "info"))
		off++
		resp, code := open("key-initech")
		if code == 200 {
			resp.Body.Close()
		}
		return code == 200
	})
	// Per tenant: an admin naming a tenant counts for it.
	srv2 := api.New(api.Options{Hub: hub, Logger: quiet, Keys: keysFor(t, "acme"), Heartbeat: time.Hour, StreamsPerTenant: 1})
	base2 := serve(t, srv2)
	req, _ := http.NewRequest("GET", base2+"/alerts/stream?tenant=acme", nil)
	req.Header.Set("Authorization", "Bearer key-admin")
	first, err := http.DefaultClient.Do(req)
	if err != nil || first.StatusCode != 200 {
		t.Fatalf("first: %v %v", err, first)
	}
	defer first.Body.Close()
	req2, _ := http.NewRequest("GET", base2+"/alerts/stream", nil)
	req2.Header.Set("Authorization", "Bearer key-acme")
	second, err := http.DefaultClient.Do(req2)
	if err != nil {
		t.Fatal(err)
	}
	second.Body.Close()
	if second.StatusCode != 429 {
		t.Fatalf("a second stream of tenant acme: %d (cap 1)", second.StatusCode)
	}
}

// A client that stops reading, with room left in its hub buffer, holds
// its stream no longer than the write timeout: the stream ends, and its
// place is free.
func TestStuckStreamEndsAtTheWriteTimeout(t *testing.T) {
	reg := prometheus.NewRegistry()
	hub := api.NewHub(api.HubOptions{Logger: quiet, ClientBuffer: 1 << 20, Registerer: reg})
	hub.Init(api.Position{0}, time.Time{})
	hub.MarkReady()
	srv := api.New(api.Options{Hub: hub, Logger: quiet, Heartbeat: time.Hour, StreamWriteTimeout: 300 * time.Millisecond})
	base := serve(t, srv)
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.(*net.TCPConn).SetReadBuffer(4096)
	fmt.Fprintf(conn, "GET /alerts/stream HTTP/1.1\r\nHost: localhost\r\n\r\n")
	clients := findGauge(t, reg, "eventops_sse_clients")
	eventually(t, time.Minute, func() bool { return testutil.ToFloat64(clients) == 1 })
	payload := strings.Repeat("x", 8000)
	dropped := findCounter(t, reg, "eventops_sse_dropped_clients_total")
	i := 0
	eventually(t, time.Minute, func() bool {
		// One more event a poll, until the stream's writes are stuck and
		// the timeout ends it.
		e := alertEv(0, int64(i), "acme", "h", fmt.Sprintf("e%d", i), "resolved", "info")
		e.Data = []byte(strings.Replace(string(e.Data), `"alertname"`, `"pad":"`+payload+`","alertname"`, 1))
		hub.Publish(e)
		i++
		return testutil.ToFloat64(clients) == 0
	})
	if testutil.ToFloat64(dropped) != 0 {
		t.Fatal("the hub dropped the client: its buffer filled before the write timeout ended the stream")
	}
}
