package api_test

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"net"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/eventops/eventops/api"
)

// brokenConn is a request body whose connection fails after some bytes,
// with the error a socket read returns: it names both ends' addresses.
type brokenConn struct{ r io.Reader }

func (b *brokenConn) Read(p []byte) (int, error) {
	if n, _ := b.r.Read(p); n > 0 {
		return n, nil
	}
	return 0, &net.OpError{Op: "read", Net: "tcp",
		Source: &net.TCPAddr{IP: net.ParseIP("10.1.2.3"), Port: 8088},
		Addr:   &net.TCPAddr{IP: net.ParseIP("10.9.8.7"), Port: 51234},
		Err:    errors.New("connection reset by peer")}
}

// A body that cannot be read is a 400 that says so, without the addresses
// of the failed read (the server's own among them), compressed or not.
func TestBodyReadErrorsDoNotShowAddresses(t *testing.T) {
	srv := api.New(api.Options{Producer: &fakeProducer{}, Logger: quiet})
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write([]byte(strings.Repeat(ev("acme", "h", "m", 1), 50)))
	_ = zw.Close()
	for _, tc := range []struct {
		name, enc string
		body      []byte
	}{
		{"identity", "", []byte(ev("acme", "h", "m", 1))},
		{"gzip", "gzip", gz.Bytes()[:gz.Len()/2]},
		{"gzip header", "gzip", gz.Bytes()[:4]},
	} {
		var ctx fasthttp.RequestCtx
		ctx.Request.Header.SetMethod("POST")
		ctx.Request.SetRequestURI("/ingest")
		ctx.Request.Header.SetHost("localhost")
		ctx.Request.Header.SetContentType("application/x-ndjson")
		if tc.enc != "" {
			ctx.Request.Header.Set("Content-Encoding", tc.enc)
		}
		ctx.Request.SetBodyStream(&brokenConn{r: bytes.NewReader(tc.body)}, -1)
		srv.App().Handler()(&ctx)
		code, body := ctx.Response.StatusCode(), string(ctx.Response.Body())
		if code != 400 || !strings.Contains(body, "could not be read") {
			t.Errorf("%s: %d %s, want 400 saying the body could not be read", tc.name, code, body)
		}
		if strings.Contains(body, "10.1.2.3") || strings.Contains(body, "10.9.8.7") {
			t.Errorf("%s: the answer shows the connection's addresses: %s", tc.name, body)
		}
	}
}
