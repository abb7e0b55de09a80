package chaos

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eventops/eventops/loadgen"
	"github.com/eventops/eventops/notify"
	"github.com/eventops/eventops/rules"
	"github.com/eventops/eventops/tables"
)

// feeder is the stream's sink. It sends the load generator's records to
// ingest.raw.agent and, between them, everything else a run sends: the
// samples of the skewed and the HTTP source when they are due, pieces of
// events and other junk, records sent again, and the rule reload. It feeds
// the reference with each accepted record as it sends it, so the reference
// sees every source's records in the order the broker keeps them.
//
// Before it sends a record that resolves an alert the receiver must be told
// of, it waits until the webhook has the episode's firing: an episode that
// resolves before its firing was sent is never sent at all (as with
// Alertmanager), and whether that happens would otherwise depend on how
// long a fault held the notify stage.
type feeder struct {
	r     *run
	ref   *reference
	inner *loadgen.KafkaSink
	// junk sends the records that are not events, unkeyed as kcat does.
	junk *kgo.Client
	http *http.Client

	skew, agent *liveSource
	round       int64
	// copies: the records to send again, by the round they are taken in,
	// and those taken, by the round they go out in.
	copyFrom map[int64]copyPick
	copyOut  map[int64][]loadgen.Record
	junkAt   map[int64]func(ctx context.Context)
	// gating stops after the first firing that did not come in time: the
	// run has failed, and waiting again would only make it longer.
	gating bool

	mu    sync.Mutex
	wants []*dlqWant
	// resent are the samples sent again, per source key.
	resent map[string][]sample
}

// copyPick names the record of a round to send again: its source and
// metric.
type copyPick struct{ source, metric int }

// Lag, in rounds, of a record sent again behind the original: 20 s of
// event time, well inside the features stage's lateness (1 m).
const copyLag = 2

func newFeeder(r *run, ref *reference, rounds int64) (*feeder, error) {
	inner, err := loadgen.NewKafkaSink([]string{r.brokerAdr})
	if err != nil {
		return nil, err
	}
	junk, err := kgo.NewClient(kgo.SeedBrokers(r.brokerAdr))
	if err != nil {
		inner.Close()
		return nil, err
	}
	start := time.Now().Truncate(time.Second)
	f := &feeder{r: r, ref: ref, inner: inner, junk: junk, http: &http.Client{Timeout: 15 * time.Second},
		skew:     &liveSource{tenant: skewTenant, host: skewHost, start: start, every: 250 * time.Millisecond},
		agent:    &liveSource{tenant: httpTenant, host: httpHost, start: start, every: time.Second},
		round:    -1,
		copyFrom: map[int64]copyPick{}, copyOut: map[int64][]loadgen.Record{},
		gating: true, resent: map[string][]sample{},
	}
	for k := int64(0); k < 4; k++ {
		f.copyFrom[rounds*(2*k+1)/8] = copyPick{source: int(1 + 5*k), metric: int(k % 2)}
	}
	f.junkAt = map[int64]func(context.Context){
		rounds / 5:     func(ctx context.Context) { f.sendJunk(ctx, splitEvent(1, f.skew.start), false) },
		rounds / 4:     func(ctx context.Context) { f.sendJunk(ctx, strays(), false) },
		rounds * 2 / 5: func(ctx context.Context) { f.sendJunk(ctx, junkBurst(24), true) },
		rounds * 3 / 5: func(ctx context.Context) { f.sendJunk(ctx, splitEvent(2, f.skew.start), false) },
		rounds * 3 / 4: func(ctx context.Context) { f.sendJunk(ctx, strays(), false) },
	}
	return f, nil
}

func (f *feeder) close() {
	f.inner.Close()
	f.junk.Close()
}

// Send implements loadgen.Sink.
func (f *feeder) Send(ctx context.Context, rec loadgen.Record) error {
	if len(rec.Events) == 0 {
		return fmt.Errorf("the scenario's stream has no malformed records; got %q", rec.Value)
	}
	if round := rec.Events[0].Round; round != f.round {
		f.round = round
		if err := f.roundStarts(ctx, round); err != nil {
			return err
		}
	}
	if err := f.live(ctx); err != nil {
		return err
	}
	ev0 := rec.Events[0]
	tenant, host := loadgen.TenantName(ev0.Tenant), loadgen.SourceName(ev0.Source)
	samples := make([]sample, len(rec.Events))
	for i, ev := range rec.Events {
		samples[i] = sample{metric: loadgen.MetricName(ev.Metric), tsMicro: ev.Ts.UnixMicro(), value: ev.Value}
	}
	if pick, ok := f.copyFrom[ev0.Round]; ok && pick == (copyPick{ev0.Source, ev0.Metric}) {
		f.copyOut[ev0.Round+copyLag] = append(f.copyOut[ev0.Round+copyLag], rec)
	}
	if err := f.apply(ctx, tenant, host, samples); err != nil {
		return err
	}
	return f.inner.Send(ctx, rec)
}

// Flush implements loadgen.Sink: it returns once the broker has every
// record sent so far.
func (f *feeder) Flush(ctx context.Context) error {
	if err := f.inner.Flush(ctx); err != nil {
		return err
	}
	return f.junk.Flush(ctx)
}

// apply feeds the reference with one record and waits, before it is sent,
// for the firing of every episode it resolves.
func (f *feeder) apply(ctx context.Context, tenant, host string, samples []sample) error {
	trs, err := f.ref.add(tenant, host, samples)
	if err != nil {
		return err
	}
	for _, tr := range trs {
		if tr.State == rules.StateResolved && deliverable(tr) {
			f.awaitFiring(ctx, tr.EpisodeID)
		}
	}
	return nil
}

// deliverable says whether the receiver is to be told of the episode.
func deliverable(tr *rules.Transition) bool {
	return !(tr.Tenant == streamTenant && tr.Host == silencedHost)
}

func (f *feeder) awaitFiring(ctx context.Context, episode string) {
	if !f.gating {
		return
	}
	timeout := f.r.o.PostgresDown + time.Minute
	t0 := time.Now()
	defer func() {
		f.r.o.Logger.Debug("waited for a firing notice before resolving its episode", "episode", episode, "waited", time.Since(t0))
	}()
	if !f.r.hook.waitFor(ctx, episode, notify.StatusFiring, timeout) {
		f.gating = false
		f.r.problem(fmt.Sprintf("the firing of episode %s was not delivered within %s; from here on the stream does not wait for firings before it resolves them", episode, timeout))
	}
}

// roundStarts does what is due before the first record of round.
func (f *feeder) roundStarts(ctx context.Context, round int64) error {
	if round == ReloadRound(f.r.o.Load.Rounds) {
		if err := f.reload(ctx); err != nil {
			return err
		}
	}
	if send := f.junkAt[round]; send != nil {
		send(ctx)
	}
	for _, rec := range f.copyOut[round] {
		ev := rec.Events[0]
		key := loadgen.TenantName(ev.Tenant) + "/" + loadgen.SourceName(ev.Source)
		f.noteResent(key, sample{metric: loadgen.MetricName(ev.Metric), tsMicro: ev.Ts.UnixMicro(), value: ev.Value})
		if err := f.inner.Send(ctx, rec); err != nil {
			return err
		}
	}
	return nil
}

func (f *feeder) noteResent(key string, s sample) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.resent[key] = append(f.resent[key], s)
}

// sendJunk produces records that are not events, unkeyed as kcat sends
// them; each must reach the DLQ with its reason. The time a burst takes
// to clear is measured meanwhile.
func (f *feeder) sendJunk(ctx context.Context, recs []junkRecord, burst bool) {
	now := time.Now()
	out := make([]*kgo.Record, len(recs))
	for i, j := range recs {
		out[i] = &kgo.Record{Topic: tables.RawTopic, Value: j.value}
	}
	var wants []*dlqWant
	for i, res := range f.junk.ProduceSync(ctx, out...) {
		if res.Err != nil {
			f.r.problem(fmt.Sprintf("%s was not sent: %v", recs[i].what, res.Err))
			continue
		}
		wants = append(wants, &dlqWant{what: recs[i].what, reason: recs[i].reason,
			match: atOrigin(res.Record.Partition, res.Record.Offset)})
	}
	f.mu.Lock()
	f.wants = append(f.wants, wants...)
	f.mu.Unlock()
	if burst {
		f.r.background.Add(1)
		go f.r.measureJunkClear(ctx, now, wants)
	}
}

// live sends the samples of the harness's own sources that are due.
func (f *feeder) live(ctx context.Context) error {
	now := time.Now()
	for _, i := range f.skew.due(now) {
		if err := f.sendSkewed(ctx, i); err != nil {
			return err
		}
	}
	for _, i := range f.agent.due(now) {
		if err := f.postAgent(ctx, i); err != nil {
			return err
		}
	}
	return nil
}

// sendSkewed sends sample i of the skewed source and, with some, a sample
// ahead of its time.
func (f *feeder) sendSkewed(ctx context.Context, i int) error {
	l := f.skew
	key := l.tenant + "/" + l.host
	ts := l.at(i)
	s := sample{metric: metricOf(i), tsMicro: ts.UnixMicro(), value: liveValue(i)}
	if err := f.apply(ctx, l.tenant, l.host, []sample{s}); err != nil {
		return err
	}
	if err := f.inner.Send(ctx, loadgen.Record{Key: []byte(key), Value: l.event(s.metric, s.value, ts)}); err != nil {
		return err
	}
	ahead, ok := skewedSample(i)
	if !ok {
		return nil
	}
	at := ts.Add(ahead)
	value := l.event("cpu_load", 1, at)
	if ahead > time.Hour/2 {
		stamp := at.UTC().Format(time.RFC3339Nano)
		f.mu.Lock()
		f.wants = append(f.wants, &dlqWant{what: "skewed sample " + stamp, reason: "future",
			match: func(e dlqEntry) bool { return string(e.key) == key && strings.Contains(string(e.value), stamp) }})
		f.mu.Unlock()
	} else if err := f.apply(ctx, l.tenant, l.host, []sample{{metric: "cpu_load", tsMicro: at.UnixMicro(), value: 1}}); err != nil {
		return err
	}
	return f.inner.Send(ctx, loadgen.Record{Key: []byte(key), Value: value})
}

// postAgent posts event i of the HTTP source, and again when it is one of
// those the agent sends twice.
func (f *feeder) postAgent(ctx context.Context, i int) error {
	l := f.agent
	ts := l.at(i)
	s := sample{metric: metricOf(i), tsMicro: ts.UnixMicro(), value: liveValue(i)}
	if err := f.apply(ctx, l.tenant, l.host, []sample{s}); err != nil {
		return err
	}
	body := l.event(s.metric, s.value, ts)
	if err := f.post(ctx, body); err != nil {
		return err
	}
	if httpResent(i) {
		f.noteResent(l.tenant+"/"+l.host, s)
		return f.post(ctx, body)
	}
	return nil
}

// post sends an ingest body to a running replica, to another one while it
// is refused (a replica killed or restarting), until it is accepted.
func (f *feeder) post(ctx context.Context, body []byte) error {
	deadline := time.Now().Add(2 * time.Minute)
	var last error
	for time.Now().Before(deadline) {
		apis := f.r.apis()
		rand.Shuffle(len(apis), func(i, j int) { apis[i], apis[j] = apis[j], apis[i] })
		for _, base := range apis {
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/ingest", bytes.NewReader(body))
			if err != nil {
				return err
			}
			req.Header.Set("Content-Type", "application/json")
			resp, err := f.http.Do(req)
			if err != nil {
				last = err
				continue
			}
			msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			resp.Body.Close()
			switch {
			case resp.StatusCode == http.StatusAccepted:
				return nil
			case resp.StatusCode/100 == 4 && resp.StatusCode != http.StatusTooManyRequests:
				return fmt.Errorf("POST %s/ingest refused the HTTP source's event: %s: %s", base, resp.Status, msg)
			}
			last = fmt.Errorf("%s: %s", resp.Status, msg)
		}
		if err := pause(ctx, 200*time.Millisecond); err != nil {
			return err
		}
	}
	return fmt.Errorf("POST /ingest: no replica accepted the HTTP source's event within 2m: %v", last)
}

// reload pauses the stream, waits until the pipeline has processed every
// record sent so far and the receiver has the firing of every episode the
// reload resolves, puts RulesAfter in force on every replica and tells the
// reference, which then resolves the same episodes.
func (f *feeder) reload(ctx context.Context) error {
	t0 := time.Now()
	log := f.r.o.Logger
	log.Info("stream paused for the rule reload: waiting for the pipeline to process what was sent")
	if err := f.Flush(ctx); err != nil {
		return err
	}
	if err := f.r.waitCommitted(ctx, reloadStages, f.r.o.Settle); err != nil {
		f.r.problem("before the reload: " + err.Error())
	}
	resolved := f.ref.resolvedBy(f.r.after)
	for ep := range resolved {
		if deliverable(f.ref.episodes[ep]) {
			f.awaitFiring(ctx, ep)
		}
	}
	f.ref.reload(f.r.after)
	if err := f.r.reloadAll(ctx); err != nil {
		return err
	}
	log.Info("rules reloaded on every replica; stream resumed", "episodes_to_resolve", len(resolved), "paused", time.Since(t0).Round(time.Millisecond))
	return nil
}

// dlqWants returns the inputs sent that the DLQ must hold.
func (f *feeder) dlqWants() []*dlqWant {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*dlqWant(nil), f.wants...)
}

// resentOf returns the samples of the source sent twice.
func (f *feeder) resentOf(key string) []sample {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]sample(nil), f.resent[key]...)
}

// isResent says whether a DLQ record of the features stage is a sample
// that was sent twice.
func (f *feeder) isResent(e dlqEntry) bool {
	var v struct {
		Metric string    `json:"metric"`
		Ts     time.Time `json:"ts_event"`
	}
	if json.Unmarshal(e.value, &v) != nil {
		return false
	}
	for _, s := range f.resentOf(string(e.key)) {
		if s.metric == v.Metric && s.tsMicro == v.Ts.UnixMicro() {
			return true
		}
	}
	return false
}
