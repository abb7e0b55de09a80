package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eventops/eventops/tables"
	"github.com/eventops/eventops/tables/kgotables"
)

// Sink takes generated records.
type Sink interface {
	Send(ctx context.Context, r Record) error
	// Flush returns once every record sent is delivered, with the first
	// delivery error.
	Flush(ctx context.Context) error
}

// KafkaSink produces to ingest.raw.agent.
type KafkaSink struct {
	cl *kgo.Client
	// life is the context records are produced under: it ends with Close,
	// not with the context of a Send, so a record accepted before the load
	// stopped is still delivered by Flush.
	life   context.Context
	end    context.CancelFunc
	errs   atomic.Int64
	first  error
	mu     sync.Mutex
	topic  string
	closed bool
}

// NewKafkaSink connects to brokers.
func NewKafkaSink(brokers []string, opts ...kgo.Opt) (*KafkaSink, error) {
	cl, err := kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(brokers...),
		kgo.RecordPartitioner(kgotables.Partitioner()),
		kgo.ProducerLinger(5 * time.Millisecond),
		kgo.MaxBufferedRecords(200_000),
		// Kafka's and Redpanda's default max.message.bytes.
		kgo.ProducerBatchMaxBytes(1048588),
	}, opts...)...)
	if err != nil {
		return nil, err
	}
	life, end := context.WithCancel(context.Background())
	return &KafkaSink{cl: cl, life: life, end: end, topic: tables.RawTopic}, nil
}

// Send implements Sink; it blocks while the client's buffer is full (until
// Close). A record it accepted is delivered even when ctx ends right after:
// the client would otherwise fail every record still in its buffer.
func (k *KafkaSink) Send(ctx context.Context, r Record) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	k.cl.Produce(k.life, &kgo.Record{Topic: k.topic, Key: r.Key, Value: r.Value}, func(_ *kgo.Record, err error) {
		if err != nil {
			k.errs.Add(1)
			k.mu.Lock()
			if k.first == nil {
				k.first = err
			}
			k.mu.Unlock()
		}
	})
	return nil
}

// Flush implements Sink.
func (k *KafkaSink) Flush(ctx context.Context) error {
	if err := k.cl.Flush(ctx); err != nil {
		return err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.first
}

// Errors counts failed deliveries.
func (k *KafkaSink) Errors() int64 { return k.errs.Load() }

// Close closes the client.
func (k *KafkaSink) Close() {
	k.end()
	k.cl.Close()
}

// HTTPSink posts records to POST /ingest, batching them as NDJSON.
type HTTPSink struct {
	URL    string
	Client *http.Client
	// Batch is how many records one request carries (default 500).
	Batch int
	// Header is added to every request (e.g. an API key).
	Header http.Header
	buf    bytes.Buffer
	n      int
	events int64
	// refused counts the events the server did not accept.
	refused int64
}

// Send implements Sink.
func (h *HTTPSink) Send(ctx context.Context, r Record) error {
	v := bytes.TrimSpace(r.Value)
	if len(v) > 0 && v[0] == '[' {
		// NDJSON holds one object per line: unpack an array of events.
		v = bytes.TrimSuffix(bytes.TrimPrefix(v, []byte("[")), []byte("]"))
		v = bytes.ReplaceAll(v, []byte("},{"), []byte("}\n{"))
	}
	h.buf.Write(v)
	h.buf.WriteByte('\n')
	h.n++
	h.events += int64(max(len(r.Events), 1))
	batch := h.Batch
	if batch <= 0 {
		batch = 500
	}
	if h.n >= batch {
		return h.Flush(ctx)
	}
	return nil
}

// Refused counts the events (and malformed records) the server did not
// accept: those it rejected, and every one of a request that failed.
func (h *HTTPSink) Refused() int64 { return h.refused }

// Flush implements Sink.
func (h *HTTPSink) Flush(ctx context.Context) error {
	if h.n == 0 {
		return nil
	}
	sent := h.events
	defer func() { h.buf.Reset(); h.n, h.events = 0, 0 }()
	h.refused += sent // until the server says how many it took
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.URL, bytes.NewReader(h.buf.Bytes()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	for k, vs := range h.Header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	cl := h.Client
	if cl == nil {
		cl = http.DefaultClient
	}
	resp, err := cl.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("POST %s: %s: %s", h.URL, resp.Status, problemDetail(body))
	}
	var res struct {
		Accepted int64 `json:"accepted"`
	}
	if json.Unmarshal(body, &res) == nil {
		h.refused -= min(res.Accepted, sent)
	}
	return nil
}

// problemDetail is the one line worth printing of an error answer: its
// problem detail, else its start.
func problemDetail(body []byte) string {
	var p struct {
		Detail string `json:"detail"`
	}
	if json.Unmarshal(body, &p) == nil && p.Detail != "" {
		return p.Detail
	}
	const most = 300
	if len(body) > most {
		return string(body[:most]) + "…"
	}
	return string(bytes.TrimSpace(body))
}

// Summary of a run.
type Summary struct {
	Records   int64 `json:"records"`
	Events    int64 `json:"events"`
	Malformed int64 `json:"malformed"`
	// Refused counts the events the server did not accept (HTTP only).
	Refused int64         `json:"refused"`
	Errors  int64         `json:"errors"`
	Elapsed time.Duration `json:"elapsed_ns"`
	Rate    float64       `json:"events_per_sec"`
}

// RunOptions pace and bound a run.
type RunOptions struct {
	// Rate in events per second; 0 sends as fast as the sink takes them.
	Rate float64
	// Speed bounds how fast event time runs: a record whose event time is
	// later than the run's start is sent no sooner than the wall clock
	// allows at Speed times real time (1 keeps event time at the wall
	// clock). Event times before the start (a replay of the past) are not
	// held. 0 sends every record as soon as Rate allows.
	Speed float64
	// Count and Duration bound the run besides the generator's Rounds.
	// The run stops generating at Duration and then delivers what it sent.
	Count    int64
	Duration time.Duration
	// Progress, if set, gets a line every second (a terminal overwrites it).
	Progress io.Writer
}

// Run sends the generator's records to sink. It ends when the generator,
// Count or Duration does (without an error), or when ctx ends.
func Run(ctx context.Context, g *Generator, sink Sink, ro RunOptions) (Summary, error) {
	var sum Summary
	start := time.Now()
	p := &pacer{ctx: ctx}
	if ro.Duration > 0 {
		t := time.NewTimer(ro.Duration)
		defer t.Stop()
		p.end = t.C
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var sendErr error
	for ctx.Err() == nil && !p.over && (ro.Count <= 0 || sum.Events < ro.Count) {
		select {
		case <-p.end:
			p.over = true
			continue
		default:
		}
		r, ok := g.Next()
		if !ok {
			break
		}
		if ro.Speed > 0 && len(r.Events) > 0 {
			if ahead := r.Events[0].Ts.Sub(start); ahead > 0 && !p.wait(start.Add(time.Duration(float64(ahead)/ro.Speed))) {
				break
			}
		}
		if err := sink.Send(ctx, r); err != nil {
			sum.Errors++
			if sendErr == nil {
				sendErr = err
			}
		}
		sum.Records++
		sum.Events += int64(len(r.Events))
		if r.Malformed {
			sum.Malformed++
		}
		// Pace: the n-th event is due at n / rate.
		if ro.Rate > 0 && !p.wait(start.Add(time.Duration(float64(sum.Events+sum.Malformed)/ro.Rate*float64(time.Second)))) {
			break
		}
		select {
		case <-tick.C:
			if ro.Progress != nil {
				fmt.Fprintf(ro.Progress, "\rsent %d events in %d records, %.0f events/s, %d malformed, %d errors   ",
					sum.Events, sum.Records, float64(sum.Events)/time.Since(start).Seconds(), sum.Malformed, sum.Errors)
			}
		default:
		}
	}
	flushErr := deliver(ctx, sink, &sum)
	sum.Elapsed = time.Since(start)
	sum.Rate = float64(sum.Events-sum.Refused) / sum.Elapsed.Seconds()
	if ro.Progress != nil {
		fmt.Fprintln(ro.Progress)
	}
	return sum, errors.Join(sendErr, flushErr, ctx.Err())
}

// pacer holds a run until a record is due, unless the run ends first: its
// Duration (end, then over) or its context.
type pacer struct {
	ctx  context.Context
	end  <-chan time.Time
	over bool
}

// wait holds the run until due; false when the run ends meanwhile.
func (p *pacer) wait(due time.Time) bool {
	d := time.Until(due)
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-p.end:
		p.over = true
	case <-p.ctx.Done():
	}
	return false
}

// deliver flushes what was sent, even when the run ended on Duration; an
// interrupt (ctx) leaves a minute for it too. It counts the sink's
// delivery errors and, over HTTP, what the server refused.
func deliver(ctx context.Context, sink Sink, sum *Summary) error {
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	flushErr := sink.Flush(fctx)
	switch s := sink.(type) {
	case *KafkaSink:
		sum.Errors += s.Errors() // a failed flush is among them
	case *HTTPSink:
		sum.Refused = s.Refused()
		if flushErr != nil {
			sum.Errors++
		}
	}
	return flushErr
}
