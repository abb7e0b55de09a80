package actors

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/eventops/eventops/store"
)

// A silence's matchers are compiled once per version of the silence, not
// on every transition its tenant has.
func TestSilenceMatchersAreCompiledOncePerVersion(t *testing.T) {
	n := &Notifier{opts: NotifierOptions{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, parsed: map[string]parsedSilence{}}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := store.Silence{ID: "s1", Tenant: "acme", Matchers: []string{`alertname=~"High.*"`, `host="h1"`}, UpdatedAt: t0}
	first := n.silenceMatchers(s)
	if len(first) != 2 {
		t.Fatalf("%d matchers", len(first))
	}
	if again := n.silenceMatchers(s); &again[0] != &first[0] {
		t.Fatal("the same version of the silence was compiled again")
	}
	s.Matchers, s.UpdatedAt = []string{`host="h2"`}, t0.Add(time.Second)
	if updated := n.silenceMatchers(s); len(updated) != 1 || updated[0].Value != "h2" {
		t.Fatalf("an updated silence kept its old matchers: %v", updated)
	}
	bad := store.Silence{ID: "s2", Matchers: []string{`a~b`}, UpdatedAt: t0}
	if ms := n.silenceMatchers(bad); ms != nil {
		t.Fatalf("a broken silence: %v", ms)
	}
}
