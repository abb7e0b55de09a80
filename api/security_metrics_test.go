package api_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/eventops/eventops/api"
)

// The server reuses its buffers from one request to the next on a
// connection: nothing of a request may stay in the metrics it keeps.
// After 1,000 mixed requests on one connection /-/metrics still answers.
func TestMetricsSurviveManyRequestsOnOneConnection(t *testing.T) {
	reg := prometheus.NewRegistry()
	srv := api.New(api.Options{Keys: keysFor(t, "acme"), Logger: quiet, Registerer: reg, Gatherer: reg})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	defer func() { cancel(); <-done }()

	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	rd := bufio.NewReader(conn)
	send := func(method, path, body string) *http.Response {
		t.Helper()
		fmt.Fprintf(conn, "%s %s HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", method, path, len(body), body)
		resp, err := http.ReadResponse(rd, &http.Request{Method: method})
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	requests := []struct{ method, path, body string }{
		{"POST", "/auth/session", `{"key":"nope"}`},
		{"GET", "/healthz", ""},
		{"DELETE", "/auth/session", ""},
		{"GET", "/readyz", ""},
		{"PATCH", "/alerts", ""},
		{"OPTIONS", "/ingest", ""},
		{"HEAD", "/healthz", ""},
		{"GET", "/no/such/route", ""},
		{"PUT", "/no/such/route", ""},
		{"POST", "/auth/session", `{"key":"nope"}`},
		{"GET", "/auth/session", ""},
	}
	for i := 0; i < 1000; i++ {
		r := requests[i%len(requests)]
		send(r.method, r.path, r.body)
	}
	if resp := send("GET", "/-/metrics", ""); resp.StatusCode != 200 {
		t.Fatalf("/-/metrics after 1000 requests: %d", resp.StatusCode)
	}
	if _, err := reg.Gather(); err != nil {
		t.Fatalf("gather: %v", err)
	}
	// Methods the API does not serve share one label value.
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() != "eventops_http_request_duration_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "method" && l.GetValue() == "PATCH" {
					t.Fatalf("a label for an unserved method: %v", m)
				}
			}
		}
	}
}

// Scrapes are public: at most two run at once, the next is 503.
func TestScrapesInFlightAreBounded(t *testing.T) {
	started, release := make(chan struct{}, 4), make(chan struct{})
	g := prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
		started <- struct{}{}
		<-release
		return nil, nil
	})
	srv := api.New(api.Options{Logger: quiet, Gatherer: g})
	codes := make(chan int, 2)
	for range 2 {
		go func() { codes <- do(t, srv, "GET", "/-/metrics", "").status }()
		<-started
	}
	if r := do(t, srv, "GET", "/-/metrics", ""); r.status != 503 {
		t.Fatalf("a third scrape at once: %d", r.status)
	}
	close(release)
	for range 2 {
		if c := <-codes; c != 200 {
			t.Fatalf("a held scrape: %d", c)
		}
	}
}
