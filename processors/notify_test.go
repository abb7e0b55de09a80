package processors_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/tester"

	"github.com/eventops/eventops/processors"
	"github.com/eventops/eventops/rules"
	"github.com/eventops/eventops/tables"
	"github.com/eventops/eventops/tables/kgotables"
)

// notifyTarget records what the stage hands over and settles it from
// another goroutine, as the notifier does.
type notifyTarget struct {
	mu  sync.Mutex
	got []*rules.Transition
}

func (n *notifyTarget) Notify(_ context.Context, tr *rules.Transition, done func(error)) {
	n.mu.Lock()
	n.got = append(n.got, tr)
	n.mu.Unlock()
	go done(nil)
}

func TestNotifyHandsOverTransitionsAndRejectsJunk(t *testing.T) {
	tg, fp := &notifyTarget{}, &fakeProducer{}
	n, err := processors.NewNotify(processors.NotifyOptions{Target: tg, Producer: fp})
	if err != nil {
		t.Fatal(err)
	}
	if n.Graph().Group() != "eventops-notify" {
		t.Fatalf("group %s", n.Graph().Group())
	}
	tt := tester.New(t)
	proc, err := n.NewProcessor(goka.WithTester(tt))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- proc.Run(ctx) }()

	for _, state := range []string{"pending", "firing", "resolved"} {
		b, _ := json.Marshal(rules.Transition{AlertName: "A", Tenant: "acme", Host: "h", State: state, EpisodeID: "e1"})
		tt.Consume(tables.AlertsTopic, "acme/h", b)
	}
	tt.Consume(tables.AlertsTopic, "acme/h", []byte(`{"state":"firing","tenant":"acme"}`)) // no episode
	tt.Consume(tables.AlertsTopic, "acme/h", []byte(`not json`))

	tg.mu.Lock()
	got := len(tg.got)
	states := ""
	for _, tr := range tg.got {
		states += tr.State + " "
	}
	tg.mu.Unlock()
	if got != 3 || states != "pending firing resolved " {
		t.Fatalf("handed over %d: %s", got, states)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(fp.topic(tables.DLQTopic)) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("DLQ %d records", len(fp.topic(tables.DLQTopic)))
		}
		<-time.After(10 * time.Millisecond)
	}
	for _, r := range fp.topic(tables.DLQTopic) {
		if kgotables.Header(r, tables.HeaderReason) != "undecodable_alert" || kgotables.Header(r, tables.HeaderStage) != "notify" {
			t.Fatalf("DLQ record headers %+v", r.Headers)
		}
	}
	cancel()
	if err := <-ran; err != nil {
		t.Fatalf("Run: %v", err)
	}
}
