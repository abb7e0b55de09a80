package loadgen

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// With a tenant's key, loadgen writes to that tenant: it asks the API whose
// key it holds. An admin key writes the generator's own tenants.
func TestLoadgenAsksTheKeysTenant(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/auth/session" {
			http.NotFound(w, r)
			return
		}
		switch r.Header.Get("Authorization") {
		case "Bearer tenant-key":
			fmt.Fprint(w, `{"keys_required":true,"authenticated":true,"tenant":"acme","admin":false}`)
		case "Bearer admin-key":
			fmt.Fprint(w, `{"keys_required":true,"authenticated":true,"tenant":"*","admin":true}`)
		default:
			fmt.Fprint(w, `{"keys_required":true,"authenticated":false,"admin":false}`)
		}
	}))
	defer srv.Close()
	ctx := context.Background()
	if got, err := keyTenant(ctx, srv.URL+"/ingest", "tenant-key"); err != nil || got != "acme" {
		t.Errorf("tenant key: %q %v", got, err)
	}
	if got, err := keyTenant(ctx, srv.URL+"/ingest", "admin-key"); err != nil || got != "" {
		t.Errorf("admin key: %q %v", got, err)
	}
	if _, err := keyTenant(ctx, srv.URL+"/ingest", "unknown"); err == nil {
		t.Error("an unknown key was taken")
	}
}

// A job over HTTP with a tenant's key writes as that tenant, ends with the
// summary line, and fails when the server refused events.
func TestJobPrintsTheSummaryAndFailsOnRefusals(t *testing.T) {
	var mu sync.Mutex
	var lines []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/auth/session" {
			fmt.Fprint(w, `{"authenticated":true,"tenant":"acme"}`)
			return
		}
		var got []string
		sc := bufio.NewScanner(r.Body)
		for sc.Scan() {
			got = append(got, sc.Text())
		}
		mu.Lock()
		lines = append(lines, got...)
		mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
		fmt.Fprintf(w, `{"accepted":%d,"rejected":1}`, len(got)-1)
	}))
	defer srv.Close()
	var out strings.Builder
	j := Job{Gen: Options{Sources: 2, Metrics: 2, Rounds: 1, Seed: 1}, HTTP: srv.URL + "/ingest", APIKey: "tenant-key",
		Out: &out, Logger: slog.New(slog.DiscardHandler)}
	err := j.Run(context.Background())
	if err == nil || err.Error() != "the server refused 1 of 4 events" {
		t.Errorf("error %v", err)
	}
	if !strings.HasPrefix(out.String(), "sent 4 events in 4 records (0 malformed, 1 refused) in ") || !strings.HasSuffix(out.String(), " 0 errors\n") {
		t.Errorf("summary %q", out.String())
	}
	mu.Lock()
	defer mu.Unlock()
	for _, l := range lines {
		if !strings.HasPrefix(l, `{"tenant_id":"acme"`) {
			t.Errorf("record %s is not the key's tenant's", l)
		}
	}
}
