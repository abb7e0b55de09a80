package chaos

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eventops/eventops/tables"
	"github.com/eventops/eventops/tables/kgotables"
)

// dlqEntry is one record of ingest.dlq.v1 and when the harness read it.
type dlqEntry struct {
	at                    time.Time
	key, value            []byte
	reason, stage         string
	originTopic           string
	originPart, originOff int64
}

// dlqWatcher reads ingest.dlq.v1 from its start for the whole run, so that
// the checks see every rejection and when it came.
type dlqWatcher struct {
	cl      *kgo.Client
	done    chan struct{}
	mu      sync.Mutex
	entries []dlqEntry
	changed chan struct{}
}

func watchDLQ(ctx context.Context, broker string) (*dlqWatcher, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker), kgo.ConsumeTopics(tables.DLQTopic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxBytes(64<<20))
	if err != nil {
		return nil, err
	}
	w := &dlqWatcher{cl: cl, done: make(chan struct{}), changed: make(chan struct{})}
	go w.run(ctx)
	return w, nil
}

func (w *dlqWatcher) run(ctx context.Context) {
	defer close(w.done)
	for {
		fs := w.cl.PollFetches(ctx)
		if ctx.Err() != nil || fs.IsClientClosed() {
			return
		}
		now := time.Now()
		var got []dlqEntry
		fs.EachRecord(func(rec *kgo.Record) {
			part, _ := strconv.ParseInt(kgotables.Header(rec, tables.HeaderOriginPartition), 10, 32)
			off, _ := strconv.ParseInt(kgotables.Header(rec, tables.HeaderOriginOffset), 10, 64)
			got = append(got, dlqEntry{at: now, key: rec.Key, value: rec.Value, reason: kgotables.Header(rec, tables.HeaderReason),
				stage: kgotables.Header(rec, tables.HeaderStage), originTopic: kgotables.Header(rec, tables.HeaderOriginTopic),
				originPart: part, originOff: off})
		})
		if len(got) == 0 {
			continue
		}
		w.mu.Lock()
		w.entries = append(w.entries, got...)
		close(w.changed)
		w.changed = make(chan struct{})
		w.mu.Unlock()
	}
}

// read returns the entries so far and a channel closed when more come.
func (w *dlqWatcher) read() ([]dlqEntry, <-chan struct{}) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]dlqEntry(nil), w.entries...), w.changed
}

func (w *dlqWatcher) close() {
	w.cl.Close()
	<-w.done
}

// dlqWant is an input the harness expects in the DLQ, found by match.
type dlqWant struct {
	what, reason string
	match        func(dlqEntry) bool
}

// atOrigin matches the rejection of the raw record at partition/offset.
func atOrigin(part int32, off int64) func(dlqEntry) bool {
	return func(e dlqEntry) bool {
		return e.originTopic == tables.RawTopic && e.originPart == int64(part) && e.originOff == off
	}
}

// withKey matches the rejection of the record keyed key.
func withKey(key string) func(dlqEntry) bool {
	return func(e dlqEntry) bool { return string(e.key) == key }
}

// find returns, for each want, the first entry it matches (or nil).
func find(entries []dlqEntry, wants []*dlqWant) []*dlqEntry {
	out := make([]*dlqEntry, len(wants))
	for i, w := range wants {
		for j := range entries {
			if w.match(entries[j]) {
				out[i] = &entries[j]
				break
			}
		}
	}
	return out
}

// waitFound waits until every want is in the DLQ or the deadline passes,
// and returns what was found.
func (w *dlqWatcher) waitFound(ctx context.Context, wants []*dlqWant, deadline time.Time) []*dlqEntry {
	for {
		entries, changed := w.read()
		found := find(entries, wants)
		all := true
		for _, f := range found {
			all = all && f != nil
		}
		if all || !time.Now().Before(deadline) {
			return found
		}
		select {
		case <-changed:
		case <-time.After(time.Until(deadline)):
		case <-ctx.Done():
			return found
		}
	}
}
