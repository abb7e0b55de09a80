package api_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eventops/eventops/api"
)

// fakeProducer keeps what it is given; fail makes every record fail.
type fakeProducer struct {
	mu   sync.Mutex
	recs []*kgo.Record
	fail bool
}

func (p *fakeProducer) ProduceSync(_ context.Context, rs ...*kgo.Record) kgo.ProduceResults {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(kgo.ProduceResults, len(rs))
	for i, r := range rs {
		out[i].Record = r
		if p.fail {
			out[i].Err = errors.New("broker down")
			continue
		}
		p.recs = append(p.recs, r)
	}
	return out
}

func (p *fakeProducer) records() []*kgo.Record {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]*kgo.Record(nil), p.recs...)
}

type fullResponse struct {
	response
	header http.Header
}

// do sends a request through the app; headers are name, value pairs.
func do(t testing.TB, srv *api.Server, method, target, body string, headers ...string) fullResponse {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, "http://localhost"+target, rd)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i] == "Host" {
			req.Host = headers[i+1]
			continue
		}
		req.Header.Add(headers[i], headers[i+1])
	}
	if _, set := req.Header["Content-Type"]; method == http.MethodPost && !set {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := srv.App().Test(req, 30_000)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return fullResponse{response{resp.StatusCode, resp.Header.Get("Content-Type"), b}, resp.Header}
}

// keysFor makes a key ring with one key per tenant and an admin key; the
// key of a tenant is "key-" + tenant, the admin's "key-admin".
func keysFor(t testing.TB, tenants ...string) *api.KeyRing {
	t.Helper()
	var b strings.Builder
	b.WriteString("# test keys\n\n")
	for _, tn := range tenants {
		b.WriteString(api.HashKey("key-"+tn) + " " + tn + " holder of " + tn + "\n")
	}
	b.WriteString(api.HashKey("key-admin") + " * operators\n")
	kr, err := api.ParseKeys(strings.NewReader(b.String()), "keys")
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

func bearer(key string) []string { return []string{"Authorization", "Bearer " + key} }
