package api

import (
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eventops/eventops/rules"
	"github.com/eventops/eventops/tables"
)

// The hub skips the alert records that the sink and notify stages send to
// the DLQ (tables.DecodeAlert refuses them), moving its position past
// them, and publishes the others with what it filters on.
func TestHubSkipsWhatTheStagesRefuse(t *testing.T) {
	files, err := filepath.Glob("../tables/testdata/alert-bad/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no bad alerts: %v", err)
	}
	h := NewHub(HubOptions{Logger: slog.New(slog.DiscardHandler)})
	h.Init(Position{0}, time.Time{})
	sub, _ := h.Subscribe(func(AlertEvent) bool { return true }, nil)
	defer h.Unsubscribe(sub)
	off := int64(0)
	for _, f := range files {
		v, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		h.record(&kgo.Record{Topic: tables.AlertsTopic, Offset: off, Value: v, Timestamp: time.Unix(off, 0)})
		off++
	}
	good, _ := json.Marshal(rules.Transition{Tenant: "acme", Host: "h", State: rules.StateFiring, Severity: "critical", EpisodeID: "00000000000000e1"})
	h.record(&kgo.Record{Topic: tables.AlertsTopic, Offset: off, Value: good, Timestamp: time.Unix(off, 0)})

	select {
	case ev := <-sub.C:
		if ev.Offset != off || ev.Tenant != "acme" || ev.Host != "h" || ev.State != "firing" || ev.Severity != "critical" ||
			ev.EpisodeID != "00000000000000e1" || string(ev.Data) != string(good) {
			t.Fatalf("published %+v", ev)
		}
	default:
		t.Fatal("the transition was not published")
	}
	select {
	case ev := <-sub.C:
		t.Fatalf("published %+v", ev)
	default:
	}
	if pos, _ := h.Caught(sub); len(pos) != 1 || pos[0] != off+1 {
		t.Fatalf("position %v, want %d", pos, off+1)
	}
}
