package main

import (
	"bytes"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// eventops healthcheck exits 0 on a 2xx answer and 1 on anything else,
// saying why: it is the image's HEALTHCHECK, where no shell or curl exists.
func TestHealthcheck(t *testing.T) {
	for _, env := range []string{"EVENTOPS_HTTP_ADDR", "EVENTOPS_CONFIG"} {
		t.Setenv(env, "")
		os.Unsetenv(env)
	}
	var mu sync.Mutex
	var paths []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths = append(paths, r.URL.Path)
		mu.Unlock()
		switch r.URL.Path {
		case "/readyz", "/healthz":
			w.Write([]byte(`{"status":"ready"}`))
		case "/not-ready":
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte(`{"type":"about:blank","title":"Service Unavailable","status":503,"detail":"not ready: the features table is not recovered yet"}`))
		case "/hang":
			<-r.Context().Done()
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	nothing := "http://" + refusingAddr(t) + "/readyz"

	f := func(wantCode int, want string, args ...string) {
		t.Helper()
		var out, errb bytes.Buffer
		code := realMain(append([]string{"healthcheck"}, args...), &out, &errb)
		got := out.String() + errb.String()
		if code != wantCode || !strings.Contains(got, want) {
			t.Errorf("healthcheck %q: exit %d, want %d with %q; output:\n%s", args, code, wantCode, want, got)
		}
	}
	f(0, "200 OK", "--url", srv.URL+"/readyz")
	f(0, "200 OK", "--url", srv.URL+"/healthz", "--timeout", "1s")
	f(1, "answered 503 Service Unavailable: not ready: the features table is not recovered yet", "--url", srv.URL+"/not-ready")
	f(1, "answered 404 Not Found", "--url", srv.URL+"/nope")
	f(1, "connection refused", "--url", nothing)
	f(1, "no answer within 200ms", "--url", srv.URL+"/hang", "--timeout", "200ms")
	f(2, "is not an http(s) URL", "--url", "127.0.0.1:8088/readyz")
	f(2, "--timeout must be positive", "--url", srv.URL, "--timeout", "0s")
	f(2, "unexpected arguments", "--url", srv.URL, "extra")

	// Without --url it asks /readyz on the port of http_addr, on loopback
	// when http_addr is a wildcard: the same setting the server reads.
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
	mu.Lock()
	paths = nil
	mu.Unlock()
	f(0, "http://127.0.0.1:"+port+"/readyz", "--http-addr", ":"+port)
	t.Setenv("EVENTOPS_HTTP_ADDR", "0.0.0.0:"+port)
	f(0, "http://127.0.0.1:"+port+"/readyz")
	t.Setenv("EVENTOPS_HTTP_ADDR", "8088")
	f(2, `http_addr "8088"`)
	mu.Lock()
	defer mu.Unlock()
	if len(paths) != 2 || paths[0] != "/readyz" || paths[1] != "/readyz" {
		t.Errorf("default URL asked %q, want /readyz twice", paths)
	}
}

// refusingAddr is a loopback address that refuses connections for the rest
// of the test: a socket bound to it that does not listen holds the port, so
// that no other process can listen there meanwhile (a closed listener's
// port can be taken at once).
func refusingAddr(t *testing.T) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(sa.(*syscall.SockaddrInet4).Port))
}
