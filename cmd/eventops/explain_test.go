package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eventops/eventops/rules"
	"github.com/eventops/eventops/tables"
)

// sseAlerts collects the alert events of a stream until the test ends.
type sseAlerts struct {
	mu     sync.Mutex
	events []string
}

func streamAlerts(t *testing.T, url string) *sseAlerts {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	s := &sseAlerts{}
	done := make(chan struct{})
	t.Cleanup(func() {
		cancel()
		resp.Body.Close()
		<-done
	})
	go func() {
		defer close(done)
		_ = sseAlertEvents(resp.Body, func(data string) bool {
			s.mu.Lock()
			s.events = append(s.events, data)
			s.mu.Unlock()
			return true
		})
	}()
	return s
}

// find returns the transition of host to state the stream delivered.
func (s *sseAlerts) find(host, state string) (*rules.Transition, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.events {
		tr, err := tables.DecodeAlert([]byte(e))
		if err == nil && tr.Host == host && tr.State == state {
			return tr, nil
		}
	}
	return nil, fmt.Errorf("%d alert events, none %s of %s", len(s.events), state, host)
}

// readTopic reads a topic from its start until done says it has what it
// needs.
func readTopic(t *testing.T, broker, topic string, done func([]*kgo.Record) bool) []*kgo.Record {
	t.Helper()
	timeout := patience(30 * time.Second)
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var recs []*kgo.Record
	for !done(recs) {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("%s: %d records within %s", topic, len(recs), timeout)
		}
		recs = append(recs, fs.Records()...)
	}
	return recs
}

// Every transition explains itself, end to end: the firing and the resolved
// transition of an alert carry their explanation on ops.alert.v1 (naming
// the raw record of the sample that fired it), in the PostgreSQL row, on
// the alert stream and in the webhook body.
func TestTransitionsExplainThemselvesEndToEnd(t *testing.T) {
	t.Parallel()
	hook := newReceiver(t, func(int) int { return 200 })
	n := newNotifyEnv(t, alertingFile(hook.srv.URL, 100))
	p := n.start()
	stream := streamAlerts(t, p.HTTP+"/alerts/stream")

	n.send("hx", 90)
	n.stored("hx", "firing")
	n.send("hx", 10)
	n.stored("hx", "resolved")

	// The topic: both transitions, the firing one naming the raw record of
	// the sample that made it fire.
	raw := readTopic(t, p.Kafka[0], tables.RawTopic, func(r []*kgo.Record) bool { return len(r) >= 2 })
	var hot *kgo.Record
	for _, r := range raw {
		if strings.Contains(string(r.Value), `"value":90`) {
			hot = r
		}
	}
	byState := map[string]*rules.Transition{}
	readTopic(t, p.Kafka[0], tables.AlertsTopic, func(recs []*kgo.Record) bool {
		for _, r := range recs {
			if tr, err := tables.DecodeAlert(r.Value); err == nil && tr.Host == "hx" {
				byState[tr.State] = tr
			}
		}
		return byState[rules.StateFiring] != nil && byState[rules.StateResolved] != nil
	})
	fe := byState[rules.StateFiring].Explanation
	if fe == nil || fe.Condition != `last("temp") > 50` || len(fe.Features) != 1 || fe.Features[0].Value != 90 ||
		fe.Crossed == nil || fe.Crossed.Side != "above" || fe.Crossed.Threshold != 50 {
		t.Fatalf("firing explanation %+v", fe)
	}
	if len(fe.Samples) == 0 || fe.Samples[0].Value != 90 || fe.Samples[0].Origin == nil ||
		*fe.Samples[0].Origin != (rules.SampleOrigin{Topic: tables.RawTopic, Partition: hot.Partition, Offset: hot.Offset}) {
		t.Fatalf("firing samples %+v, the raw record is %s/%d/%d", fe.Samples, hot.Topic, hot.Partition, hot.Offset)
	}
	re := byState[rules.StateResolved].Explanation
	if re == nil || re.Resolution == nil || re.Resolution.By != rules.ResolvedByClear || re.Resolution.Value != 10 || len(re.Samples) == 0 {
		t.Fatalf("resolved explanation %+v", re)
	}

	// PostgreSQL: the explanation column of the row.
	var by string
	var size int
	eventually(t, 30*time.Second, "the explanation in the resolved row", func() error {
		return n.conn.QueryRow(context.Background(), `SELECT explanation->'resolution'->>'by', length(explanation::text) FROM alerts
			WHERE source_id = 'hx' AND state = 'resolved'`).Scan(&by, &size)
	})
	if by != rules.ResolvedByClear || size > rules.MaxExplanationBytes {
		t.Fatalf("row: resolved by %q, %d bytes", by, size)
	}

	// The stream.
	eventually(t, 30*time.Second, "the resolved transition on the stream", func() error {
		tr, err := stream.find("hx", rules.StateResolved)
		if err != nil {
			return err
		}
		if e := tr.Explanation; e == nil || e.Resolution == nil || e.Resolution.By != rules.ResolvedByClear {
			return fmt.Errorf("explanation %+v", tr.Explanation)
		}
		return nil
	})

	// The webhook body.
	eventually(t, 30*time.Second, "the resolved notice with its explanation", func() error {
		for _, q := range hook.requests() {
			for _, a := range q.msg.Alerts {
				if a.Status == "resolved" && a.Labels["host"] == "hx" {
					if e := a.Explanation; e == nil || e.Resolution == nil || e.Resolution.By != rules.ResolvedByClear || e.Resolution.Value != 10 {
						return fmt.Errorf("explanation %s", q.raw)
					}
					var body map[string]any
					if err := json.Unmarshal(q.raw, &body); err != nil {
						return err
					}
					return nil
				}
			}
		}
		return fmt.Errorf("no resolved notice among %d requests", len(hook.requests()))
	})
	p.stop(60 * time.Second)
}

// The README's explanation is the shape transitions carry: every field it
// shows is one of rules.Explanation, and it is within the bound.
func TestREADMEExplanation(t *testing.T) {
	var found bool
	for _, b := range readmeFencedBlocks(t) {
		if b.heading != "Every transition explains itself" || b.lang != "json" {
			continue
		}
		found = true
		var tr map[string]json.RawMessage
		if err := json.Unmarshal([]byte(b.body), &tr); err != nil {
			t.Fatalf("README line %d: %v", b.line, err)
		}
		dec := json.NewDecoder(strings.NewReader(string(tr["explanation"])))
		dec.DisallowUnknownFields()
		var e rules.Explanation
		if err := dec.Decode(&e); err != nil {
			t.Fatalf("README line %d: the explanation: %v", b.line, err)
		}
		if e.Resolution == nil || e.Resolution.By != rules.ResolvedByClear || e.Crossed == nil || len(e.Features) != 1 ||
			e.Features[0].Samples == nil || len(e.Samples) != 2 || e.Samples[0].Origin == nil {
			t.Errorf("README explanation %+v", e)
		}
		if n := e.Size(); n > rules.MaxExplanationBytes {
			t.Errorf("README explanation of %d bytes", n)
		}
	}
	if !found {
		t.Fatal("no explanation in the README")
	}
}
