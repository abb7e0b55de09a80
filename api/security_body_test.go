package api_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/eventops/eventops/api"
)

// wantProblem fails unless r is a problem with status whose detail holds
// every one of wants.
func wantProblem(t testing.TB, what string, r fullResponse, status int, wants ...string) {
	t.Helper()
	var p api.Problem
	if r.status != status || r.ctype != "application/problem+json" || json.Unmarshal(r.body, &p) != nil {
		t.Fatalf("%s: %d %s %s, want a %d problem", what, r.status, r.ctype, r.body, status)
	}
	for _, w := range wants {
		if !strings.Contains(p.Detail, w) {
			t.Fatalf("%s: detail %q does not say %q", what, p.Detail, w)
		}
	}
}

// gzipOf compresses n zero bytes.
func gzipOf(t testing.TB, n int) []byte {
	t.Helper()
	var out bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&out, gzip.BestCompression)
	chunk := make([]byte, 1<<20)
	for left := n; left > 0; left -= len(chunk) {
		if left < len(chunk) {
			chunk = chunk[:left]
		}
		if _, err := zw.Write(chunk); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// allocated is what the process allocated while f ran.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// A small compressed body that inflates to far more than any limit is
// refused without being inflated: stacked and unknown encodings are 415
// everywhere, one gzip layer is taken by /ingest only and stops at its
// limit (413), and the process allocates a few MiB at most doing so.
func TestCompressedBodiesAreNotInflatedPastTheLimit(t *testing.T) {
	p := &fakeProducer{}
	srv := api.New(api.Options{Keys: keysFor(t, "acme"), Producer: p, Logger: quiet, Store: seeded(t), IngestMaxBody: 1 << 20})
	// gzip(gzip(256 MiB of zeros)), made once: compressing it takes long
	// under the race detector.
	bomb2, err := os.ReadFile("testdata/bomb256.gz.gz")
	if err != nil || len(bomb2) > 2048 {
		t.Fatalf("the double bomb: %d bytes, %v", len(bomb2), err)
	}
	bomb1 := gzipOf(t, 16<<20) // gzip(16 MiB of zeros)
	const limit = 8 << 20
	cases := []struct {
		name, path, enc string
		body            []byte
		key             bool
		status          int
		want            string
	}{
		{"login, stacked", "/auth/session", "gzip, gzip", bomb2, false, 415, "Content-Encoding"},
		{"login, gzip", "/auth/session", "gzip", bomb2, false, 415, "Content-Encoding"},
		{"login, deflate", "/auth/session", "deflate", bomb2, false, 415, "Content-Encoding"},
		{"login, larger than its limit", "/auth/session", "gzip", bomb1, false, 413, "more than the limit"},
		{"ingest, stacked", "/ingest", "gzip, gzip", bomb2, true, 415, "Content-Encoding"},
		{"ingest, br", "/ingest", "br", bomb1, true, 415, "Content-Encoding"},
		{"ingest, gzip", "/ingest", "gzip", bomb1, true, 413, "more than the limit"},
		{"silences, stacked", "/silences?tenant=acme", "gzip, gzip", bomb2, true, 415, "Content-Encoding"},
		{"silences, gzip", "/silences?tenant=acme", "gzip", bomb2, true, 415, "Content-Encoding"},
	}
	for _, c := range cases {
		headers := []string{"Content-Encoding", c.enc, "Content-Type", "application/json"}
		if c.key {
			headers = append(headers, bearer("key-acme")...)
		}
		var r fullResponse
		n := allocated(func() { r = do(t, srv, "POST", c.path, string(c.body), headers...) })
		wantProblem(t, c.name, r, c.status, c.want)
		t.Logf("%s: %d %s, %d KiB allocated", c.name, r.status, c.enc, n>>10)
		if n > limit {
			t.Errorf("%s: %d MiB allocated answering it, want at most %d", c.name, n>>20, limit>>20)
		}
	}
	if len(p.records()) != 0 {
		t.Fatal("something was published")
	}

	// One layer of gzip within the limit is ingest as usual.
	var small bytes.Buffer
	zw := gzip.NewWriter(&small)
	fmt.Fprint(zw, ev("acme", "h", "m", 1))
	_ = zw.Close()
	if r := do(t, srv, "POST", "/ingest", small.String(), append(bearer("key-acme"), "Content-Encoding", "gzip")...); r.status != 202 {
		t.Fatalf("gzip ingest: %d %s", r.status, r.body)
	}
}

// A body declared longer than its route takes is refused once the headers
// and the server's first read of the body (8 KiB at most) are in: before
// authentication, without waiting for (or buffering) the rest. A chunked
// body is cut at the limit.
func TestBodiesOverTheRouteLimitAreRefusedBeforeTheyAreRead(t *testing.T) {
	srv := api.New(api.Options{Keys: keysFor(t, "acme"), Producer: &fakeProducer{}, Logger: quiet, IngestMaxBody: 1 << 20})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	defer func() { cancel(); <-done }()

	for _, c := range []struct {
		path   string
		length int
	}{{"/auth/session", 5 << 10}, {"/silences", 65<<10 + 1}, {"/ingest", 1<<20 + 1}, {"/-/reload", 5 << 10}, {"/alerts", 1 << 30}} {
		conn, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		// The headers and 16 KiB go out: a server that waited for the
		// whole body would answer nothing before the deadline.
		fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
			c.path, c.length, strings.Repeat(" ", min(c.length, 16<<10)))
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("%s: %v", c.path, err)
		}
		resp.Body.Close()
		conn.Close()
		if resp.StatusCode != 413 {
			t.Fatalf("%s with %d bytes declared: %d, want 413", c.path, c.length, resp.StatusCode)
		}
	}

	// Chunked: no length is declared, and reading stops one byte past the
	// limit (all that is sent, so that the close loses no answer).
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	n := 1<<20 + 1
	fmt.Fprintf(conn, "POST /ingest HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nAuthorization: Bearer key-acme\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n",
		n, strings.Repeat(" ", n))
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 413 {
		t.Fatalf("chunked ingest over the limit: %d", resp.StatusCode)
	}
}
