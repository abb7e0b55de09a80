package processors

import (
	"log/slog"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eventops/eventops/tables"
)

// An activity record reaches the streams of the tenant it names only when
// its key is that tenant's and episode's; junk is skipped; the others are
// handed over with their place.
func TestAlertFeedSkipsActivityOfAnotherKey(t *testing.T) {
	at := &activityTarget{}
	f, err := NewAlertFeed(AlertFeedOptions{Target: &feedTarget{readyAt: -1}, Activity: at, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	v, err := tables.EncodeActivity(tables.ActivityRecord{Tenant: "beta", EpisodeID: "e1", ID: 7, Activity: []byte(`{"id":7}`)})
	if err != nil {
		t.Fatal(err)
	}
	for off, key := range []string{
		tables.ActivityKey("acme", "e1"), // another tenant's key
		tables.ActivityKey("beta", "e2"), // another episode's
		"",
		"beta",
	} {
		f.publishActivity(&kgo.Record{Topic: tables.ActivityTopic, Key: []byte(key), Value: v, Offset: int64(off)})
	}
	for off, junk := range []string{``, `null`, `{}`, `[]`, `{"tenant":"beta","episode_id":"e1","id":-1,"activity":{}}`,
		`{"tenant":"beta","episode_id":"e1","id":8,"activity":"x"}`, `{"tenant":"beta","episode_id":"e1","id":8,"activity":{"a":1}`} {
		f.publishActivity(&kgo.Record{Topic: tables.ActivityTopic, Key: []byte(tables.ActivityKey("beta", "e1")), Value: []byte(junk), Offset: int64(10 + off)})
	}
	if len(at.got) != 0 {
		t.Fatalf("handed over %+v", at.got)
	}
	f.publishActivity(&kgo.Record{Topic: tables.ActivityTopic, Key: []byte(tables.ActivityKey("beta", "e1")), Value: v, Partition: 1, Offset: 20})
	if len(at.got) != 1 || at.got[0].Tenant != "beta" || at.got[0].Partition != 1 || at.got[0].Offset != 20 {
		t.Fatalf("handed over %+v", at.got)
	}
}
