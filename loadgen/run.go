package loadgen

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eventops/eventops/tables"
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
	cl     *kgo.Client
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
		kgo.RecordPartitioner(tables.Partitioner()),
		kgo.ProducerLinger(5 * time.Millisecond),
		kgo.MaxBufferedRecords(200_000),
		// Kafka's and Redpanda's default max.message.bytes.
		kgo.ProducerBatchMaxBytes(1048588),
	}, opts...)...)
	if err != nil {
		return nil, err
	}
	return &KafkaSink{cl: cl, topic: tables.RawTopic}, nil
}

// Send implements Sink; it blocks while the client's buffer is full.
func (k *KafkaSink) Send(ctx context.Context, r Record) error {
	k.cl.Produce(ctx, &kgo.Record{Topic: k.topic, Key: r.Key, Value: r.Value}, func(_ *kgo.Record, err error) {
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
func (k *KafkaSink) Close() { k.cl.Close() }

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
	batch := h.Batch
	if batch <= 0 {
		batch = 500
	}
	if h.n >= batch {
		return h.Flush(ctx)
	}
	return nil
}

// Flush implements Sink.
func (h *HTTPSink) Flush(ctx context.Context) error {
	if h.n == 0 {
		return nil
	}
	defer func() { h.buf.Reset(); h.n = 0 }()
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
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("POST %s: %s: %s", h.URL, resp.Status, body)
	}
	return nil
}

// Summary of a run.
type Summary struct {
	Records   int64         `json:"records"`
	Events    int64         `json:"events"`
	Malformed int64         `json:"malformed"`
	Errors    int64         `json:"errors"`
	Elapsed   time.Duration `json:"elapsed_ns"`
	Rate      float64       `json:"events_per_sec"`
}

// RunOptions pace and bound a run.
type RunOptions struct {
	// Rate in events per second; 0 sends as fast as the sink takes them.
	Rate float64
	// Count and Duration bound the run besides the generator's Rounds.
	Count    int64
	Duration time.Duration
	// Progress, if set, gets a line every second (a terminal overwrites it).
	Progress io.Writer
}

// Run sends the generator's records to sink.
func Run(ctx context.Context, g *Generator, sink Sink, ro RunOptions) (Summary, error) {
	var sum Summary
	start := time.Now()
	if ro.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, ro.Duration)
		defer cancel()
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var sendErr error
	for ctx.Err() == nil && (ro.Count <= 0 || sum.Events < ro.Count) {
		r, ok := g.Next()
		if !ok {
			break
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
		if ro.Rate > 0 {
			// Pace: the n-th event is due at n / rate.
			due := start.Add(time.Duration(float64(sum.Events+sum.Malformed) / ro.Rate * float64(time.Second)))
			if d := time.Until(due); d > 0 {
				select {
				case <-time.After(d):
				case <-ctx.Done():
				}
			}
		}
		select {
		case <-tick.C:
			if ro.Progress != nil {
				el := time.Since(start).Seconds()
				fmt.Fprintf(ro.Progress, "\rsent %d events in %d records, %.0f events/s, %d malformed, %d errors   ",
					sum.Events, sum.Records, float64(sum.Events)/el, sum.Malformed, sum.Errors)
			}
		default:
		}
	}
	fctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	flushErr := sink.Flush(fctx)
	if ks, ok := sink.(*KafkaSink); ok {
		sum.Errors += ks.Errors()
	}
	sum.Elapsed = time.Since(start)
	sum.Rate = float64(sum.Events) / sum.Elapsed.Seconds()
	if ro.Progress != nil {
		fmt.Fprintln(ro.Progress)
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		ctx = context.Background()
	}
	return sum, errors.Join(sendErr, flushErr, ctx.Err())
}
