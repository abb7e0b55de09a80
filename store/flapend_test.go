package store_test

import (
	"context"
	"testing"

	"github.com/eventops/eventops/store"
	"github.com/eventops/eventops/store/storetest"
)

// Of two replicas ending an alert's flapping from the state they both
// read, one does; the state is not flapping after it. Another tenant's
// alert of the same fingerprint is not touched.
func TestEndFlappingOnce(t *testing.T) {
	storetest.NeedsPostgreSQL(t)
	t.Parallel()
	ctx := context.Background()
	s, err := store.Open(ctx, store.Options{URL: storetest.NewDatabase(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	for _, tenant := range []string{"acme", "globex"} {
		if err := s.SetFlapState(ctx, tenant, "fp", []byte(`{"flapping": true, "status": "firing"}`), true); err != nil {
			t.Fatal(err)
		}
	}
	was, err := s.FlapState(ctx, "acme", "fp")
	if err != nil {
		t.Fatal(err)
	}
	ended := []byte(`{"flapping": false, "status": "firing"}`)
	for i, want := range []bool{true, false} {
		ok, err := s.EndFlapping(ctx, "acme", "fp", was, ended)
		if err != nil || ok != want {
			t.Fatalf("end %d: %v %v, want %v", i, ok, err, want)
		}
	}
	if fl, err := s.FlappingAlerts(ctx, 10); err != nil || len(fl) != 1 || fl[0].Tenant != "globex" {
		t.Fatalf("flapping %+v %v", fl, err)
	}
}
