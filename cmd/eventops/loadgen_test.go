package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
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
