package bench

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/eventops/eventops/store/storetest"
)

// databaseExists reports whether the database of dbURL is on its server.
func databaseExists(t *testing.T, dbURL string) bool {
	t.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(context.Background(), storetest.AdminURL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var n int
	if err := conn.QueryRow(context.Background(), "SELECT count(*) FROM pg_database WHERE datname = $1",
		strings.TrimPrefix(u.Path, "/")).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n == 1
}

// A run on --database-url's server leaves no database behind, unless it
// keeps its data.
func TestBenchDropsItsDatabase(t *testing.T) {
	ctx := context.Background()
	for _, keep := range []bool{false, true} {
		e := &env{}
		if err := e.database(ctx, &Options{DatabaseURL: storetest.AdminURL(), Keep: keep}); err != nil {
			t.Fatal(err)
		}
		if !databaseExists(t, e.dbURL) {
			t.Fatalf("keep %v: the run's database %s was not made", keep, e.dbURL)
		}
		e.close()
		if got := databaseExists(t, e.dbURL); got != keep {
			t.Errorf("keep %v: after the run its database is there: %v", keep, got)
		}
		if keep {
			u, _ := url.Parse(e.dbURL)
			if err := DropDatabase(ctx, storetest.AdminURL(), strings.TrimPrefix(u.Path, "/")); err != nil {
				t.Fatal(err)
			}
		}
	}
}
