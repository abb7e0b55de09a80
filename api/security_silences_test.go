package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/eventops/eventops/api"
	"github.com/eventops/eventops/store"
	"github.com/eventops/eventops/store/storetest"
)

// A tenant's pending and active silences are capped (429), and so are the
// matchers of one (400); a silence must name what it mutes (a catch-all
// regular expression is 400); who made it is the key's name.
func TestSilenceLimits(t *testing.T) {
	ctx := context.Background()
	s, err := store.Open(ctx, store.Options{URL: storetest.NewDatabase(t), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	srv := api.New(api.Options{Store: s, Silences: s, Keys: keysFor(t, "acme", "globex"), Logger: quiet, MaxSilences: 3, MaxSilenceMatchers: 4})
	future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	body := func(matchers ...string) string {
		m, _ := json.Marshal(matchers)
		return `{"matchers":` + string(m) + `,"ends_at":"` + future + `","created_by":"me","comment":"c"}`
	}
	for i := range 3 {
		r := do(t, srv, "POST", "/silences", body(fmt.Sprintf(`host="h%d"`, i)), bearer("key-acme")...)
		if r.status != 201 {
			t.Fatalf("silence %d: %d %s", i, r.status, r.body)
		}
		if i == 0 && !strings.Contains(string(r.body), `"created_by":"holder of acme (me)"`) {
			t.Fatalf("created_by is not the key's name: %s", r.body)
		}
	}
	wantProblem(t, "a fourth silence", do(t, srv, "POST", "/silences", body(`host="h9"`), bearer("key-acme")...), 429, `tenant "acme" has 3 pending or active silences`)
	if r := do(t, srv, "POST", "/silences", body(`host="h9"`), bearer("key-globex")...); r.status != 201 {
		t.Fatalf("another tenant's silence: %d %s", r.status, r.body)
	}
	wantProblem(t, "five matchers", do(t, srv, "POST", "/silences", body(`a="1"`, `b="2"`, `c="3"`, `d="4"`, `e="5"`), bearer("key-globex")...), 400, "5 matchers, at most 4")
	for _, catchAll := range [][]string{{`alertname=~".+"`}, {`alertname=~"(?s).+"`}, {`host=~".+"`, `severity!~"info"`}, {`alertname=~"[^\\x00]+"`}} {
		wantProblem(t, strings.Join(catchAll, ","), do(t, srv, "POST", "/silences", body(catchAll...), bearer("key-globex")...), 400, "must name the values")
	}
	if r := do(t, srv, "POST", "/silences", body(`alertname=~"High.*|DiskFull"`), bearer("key-globex")...); r.status != 201 {
		t.Fatalf("a narrow pattern: %d %s", r.status, r.body)
	}
}
