package chaos

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eventops/eventops/bench"
	"github.com/eventops/eventops/loadgen"
	"github.com/eventops/eventops/pglocal"
	"github.com/eventops/eventops/rules"
	"github.com/eventops/eventops/tables"
	"github.com/eventops/eventops/tables/kgotables"
)

// Fault kinds.
const (
	FaultKill     = "sigkill"
	FaultTerm     = "sigterm"
	FaultAdd      = "add-replica"
	FaultBroker   = "broker-restart"
	FaultPostgres = "postgres-down"
	FaultPoison   = "poison"
)

// Faults lists every kind, in the order a full run injects them.
func Faults() []string {
	return []string{FaultKill, FaultTerm, FaultAdd, FaultBroker, FaultPostgres, FaultPoison}
}

// Options configure a harness run.
type Options struct {
	// Binary is the eventops binary the replicas and the broker run.
	Binary string
	// Dir holds every process's data and logs. Without it, Run makes a
	// working directory (chaos-*) under DataDir, removed at the end unless
	// Keep.
	Dir     string
	DataDir string
	Keep    bool
	// Replicas is how many `eventops run` processes share the work (3).
	Replicas int
	// Faults are the kinds to run, one run each.
	Faults []string
	// Trials is how many times a run injects its fault (3).
	Trials int
	// Load is the stream: keyed records of one event each, at least
	// MinSources sources and MinRounds rounds; its anomalies are the
	// scenario's (Anomalies) unless set. Rate is its events per second.
	Load loadgen.Options
	Rate float64
	// PostgresDown is how long PostgreSQL stays stopped (30 s).
	PostgresDown time.Duration
	// Hold is how long MemoryFull's notifications wait in their group
	// (group_wait); 0 gives them the 3 s of the others.
	Hold time.Duration
	// Settle bounds the wait for the pipeline to catch up after a run.
	Settle time.Duration
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.Replicas <= 0 {
		o.Replicas = 3
	}
	if len(o.Faults) == 0 {
		o.Faults = Faults()
	}
	if o.Trials <= 0 {
		o.Trials = 3
	}
	if o.Load.Anomalies == nil {
		o.Load.Anomalies = Anomalies(o.Load.Rounds)
	}
	if o.Rate <= 0 {
		o.Rate = 2000
	}
	if o.PostgresDown <= 0 {
		o.PostgresDown = 30 * time.Second
	}
	if o.Settle <= 0 {
		o.Settle = 3 * time.Minute
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Row is the outcome of one run.
type Row struct {
	Fault  string `json:"fault"`
	Trials int    `json:"trials"`
	// Events are the events the pipeline must store: the stream's, the
	// skewed source's on time and slightly ahead, the HTTP source's.
	Events int64 `json:"events"`
	// Lost and Duplicated count metrics rows against the valid events.
	Lost       int `json:"lost"`
	Duplicated int `json:"duplicated"`
	// WrongValues are rows whose value differs from the event's.
	WrongValues int `json:"wrong_values"`
	// WrongFeatures counts sources whose features differ from the reference.
	WrongFeatures int `json:"wrong_features"`
	// WrongAlerts counts alert rows missing, extra or twice.
	WrongAlerts int `json:"wrong_alerts"`
	// Poison is what the poison run sent, and how many are missing from
	// the DLQ or carry the wrong reason.
	Poison        int `json:"poison,omitempty"`
	PoisonMissing int `json:"poison_missing"`
	// Deliveries are the notifications the reference expects at the
	// webhook: one firing and one resolved per episode of a host that is
	// not silenced.
	Deliveries           int `json:"deliveries"`
	DeliveriesLost       int `json:"deliveries_lost"`
	DeliveriesDuplicated int `json:"deliveries_duplicated"`
	// DeliveriesCrashWindow are copies of a notification whose first copy
	// the replica that sent it delivered shortly before it was SIGKILLed,
	// before it could record it: the documented window of at-least-once
	// delivery. They are listed in CrashWindow and do not fail the run.
	DeliveriesCrashWindow int      `json:"deliveries_crash_window"`
	CrashWindow           []string `json:"crash_window,omitempty"`
	// DeliveriesUnexpected are notifications the reference does not
	// expect: of a silenced host, of an episode that never was.
	DeliveriesUnexpected int `json:"deliveries_unexpected"`
	// DeliveredBy counts the notifications per replica.
	DeliveredBy map[string]int `json:"delivered_by,omitempty"`
	// Injected are the split records, junk and far-future samples mixed
	// into the stream; InjectedMissing those missing from the DLQ or
	// carrying the wrong reason.
	Injected        int `json:"injected"`
	InjectedMissing int `json:"injected_missing"`
	// JunkClear is how long after the junk burst was sent every record of
	// it was in the DLQ and every partition stored a new event again.
	JunkClear time.Duration `json:"junk_clear_ns"`
	// SkewRefused are samples of the skewed source refused though within
	// max_future (as too late, or at ingest); SkewNoData its no-data
	// alerts, which must not fire while it reports.
	SkewRefused int `json:"skew_refused"`
	SkewNoData  int `json:"skew_no_data"`
	// Resends are the events sent twice (over Kafka and over HTTP);
	// ResendsTwice the copies the features counted as new samples.
	Resends      int `json:"resends"`
	ResendsTwice int `json:"resends_applied_twice"`
	// ReloadResolutions are the episodes the reload must resolve (their
	// rule removed or edited); ReloadMissing those without a resolved row
	// giving the reason, or whose resolved notice was not delivered.
	ReloadResolutions int `json:"reload_resolutions"`
	ReloadMissing     int `json:"reload_missing"`
	// UnexpectedExits are replica exits the harness did not cause.
	UnexpectedExits int `json:"unexpected_exits"`
	// StageRestarts are stages the replicas ran again after they failed
	// (eventops_stage_restarts_total); bad input must cause none.
	StageRestarts int `json:"stage_restarts"`
	// Takeover: from the fault until every partition processes again.
	TakeoverP50 time.Duration `json:"takeover_p50_ns"`
	TakeoverMax time.Duration `json:"takeover_max_ns"`
	// PeakRSS is the highest replica RSS seen while PostgreSQL was down,
	// BaselineRSS the highest before.
	BaselineRSS int64    `json:"baseline_rss_bytes,omitempty"`
	PeakRSS     int64    `json:"peak_rss_during_outage_bytes,omitempty"`
	Problems    []string `json:"problems,omitempty"`
}

// OK reports whether the run found nothing wrong. Copies sent in the
// crash window are allowed.
func (r Row) OK() bool {
	for _, n := range []int{r.Lost, r.Duplicated, r.WrongValues, r.WrongFeatures, r.WrongAlerts, r.PoisonMissing,
		r.DeliveriesLost, r.DeliveriesDuplicated, r.DeliveriesUnexpected, r.InjectedMissing, r.SkewRefused, r.SkewNoData,
		r.ResendsTwice, r.ReloadMissing, r.UnexpectedExits, len(r.Problems)} {
		if n != 0 {
			return false
		}
	}
	return r.Fault != FaultPoison || r.StageRestarts == 0
}

// Run runs one harness run per fault kind and reports their rows; on an
// error, the report holds the rows of the runs that ended.
func Run(ctx context.Context, o Options) (Report, error) {
	start := time.Now()
	o = o.withDefaults()
	if o.Dir == "" {
		if err := os.MkdirAll(o.DataDir, 0o755); err != nil {
			return Report{}, err
		}
		dir, err := os.MkdirTemp(o.DataDir, "chaos-")
		if err != nil {
			return Report{}, err
		}
		if !o.Keep {
			defer os.RemoveAll(dir)
		} else {
			o.Logger.Info("keeping the working directory", "dir", dir)
		}
		o.Dir = dir
	}
	rows, err := runAll(ctx, o)
	if err != nil && o.Keep {
		o.Logger.Error("chaos failed; logs kept", "dir", o.Dir)
	}
	return Report{Rows: rows, Took: time.Since(start)}, err
}

func runAll(ctx context.Context, o Options) ([]Row, error) {
	if err := CheckSize(o.Load.Sources, o.Load.Rounds); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return nil, err
	}
	if err := os.Chmod(o.Dir, 0o755); err != nil {
		return nil, err
	}
	before, err := rules.Parse("rules.yml", []byte(RulesBefore), rules.Options{})
	if err != nil {
		return nil, err
	}
	after, err := rules.Parse("rules.yml", []byte(RulesAfter), rules.Options{})
	if err != nil {
		return nil, err
	}
	pg, err := pglocal.Start(ctx, pglocal.Options{Dir: filepath.Join(o.Dir, "postgres"), Logger: o.Logger, Database: "chaos"})
	if err != nil {
		return nil, err
	}
	defer pg.Stop()
	pgPort := pg.Port()
	var rows []Row
	for _, fault := range o.Faults {
		o.Logger.Info("chaos run", "fault", fault, "trials", o.Trials)
		r := &run{o: o, fault: fault, before: before, after: after, pg: pg, pgPort: pgPort}
		row, err := r.do(ctx)
		if err != nil {
			return rows, fmt.Errorf("%s run: %w", fault, err)
		}
		rows = append(rows, row)
	}
	return rows, nil
}

type run struct {
	o Options
	// before and after are the rules in force before and after the reload.
	before, after *rules.RuleSet
	fault         string
	pg            *pglocal.Cluster
	pgPort        int
	dir           string
	rulesFile     string
	alertingFile  string
	dbURL         string
	brokerAdr     string
	broker        *process
	hook          *webhook
	dlq           *dlqWatcher
	probes        *probes
	// caused counts the exits the harness caused, per process.
	caused map[*process]int
	// poison are the poison records sent.
	poison []*dlqWant

	mu       sync.Mutex
	replicas []*replica
	row      Row
	// senders are the API addresses of the replicas' runs, kills the
	// SIGKILLs: they tell which replica sent a notification, and whether
	// it was killed right after.
	senders []sender
	kills   []kill
	// background is the work the checks wait for: replicas coming back,
	// measurements.
	background sync.WaitGroup
}

type replica struct{ p *process }

// base is the URL of the replica's API in its current run.
func (rep *replica) base() string { return "http://" + rep.p.listening().HTTP }

// sender is one run of a replica and the API address it had.
type sender struct {
	addr, name string
	from       time.Time
}

// kill is a SIGKILL of the replica run at addr.
type kill struct {
	addr, name string
	at         time.Time
}

// cleanup is what a run undoes when it ends, last first, as deferred
// calls would.
type cleanup []func()

func (c *cleanup) add(f func()) { *c = append(*c, f) }

// run undoes everything added so far, the last added first. Its receiver
// is a pointer, so that `defer undo.run()` runs what was added after the
// defer too.
func (c *cleanup) run() {
	for i := len(*c) - 1; i >= 0; i-- {
		(*c)[i]()
	}
	*c = nil
}

func (r *run) do(ctx context.Context) (Row, error) {
	r.row = Row{Fault: r.fault}
	r.caused = map[*process]int{}
	var undo cleanup
	defer undo.run()
	if err := r.start(ctx, &undo); err != nil {
		return r.row, err
	}
	ref, feed, takeovers, err := r.stream(ctx, &undo)
	if err != nil {
		return r.row, err
	}
	return r.row, r.finish(ctx, ref, feed, takeovers)
}

// start brings up what the run needs: its directory and database, the
// webhook with the rule and receivers files, the broker, the DLQ watcher,
// the replicas and the silence.
func (r *run) start(ctx context.Context, undo *cleanup) error {
	r.dir = filepath.Join(r.o.Dir, r.fault)
	_ = os.RemoveAll(r.dir)
	if err := os.MkdirAll(r.dir, 0o755); err != nil {
		return err
	}
	var err error
	if r.dbURL, err = bench.FreshDatabase(ctx, r.pg.DatabaseURL("postgres"), "chaos_"+regexpSafe(r.fault)); err != nil {
		return err
	}
	if r.hook, err = startWebhook(); err != nil {
		return err
	}
	undo.add(r.hook.close)
	r.rulesFile, r.alertingFile = filepath.Join(r.dir, "rules.yml"), filepath.Join(r.dir, "alerting.yml")
	for file, body := range map[string]string{r.rulesFile: RulesBefore, r.alertingFile: alertingFile(r.hook.url, r.o.Hold)} {
		if err := os.WriteFile(file, []byte(body), 0o644); err != nil {
			return err
		}
	}
	if err := r.startBroker(ctx, undo); err != nil {
		return err
	}
	dctx, stopDLQ := context.WithCancel(ctx)
	undo.add(stopDLQ)
	if r.dlq, err = watchDLQ(dctx, r.brokerAdr); err != nil {
		return err
	}
	undo.add(r.dlq.close)
	for i := 0; i < r.o.Replicas; i++ {
		if _, err := r.addReplica(ctx); err != nil {
			return err
		}
	}
	undo.add(r.stopAll)
	return r.createSilence(ctx)
}

// startBroker starts the broker process. Its first start picks its port;
// its restarts ask for the same one, where the replicas look for it.
func (r *run) startBroker(ctx context.Context, undo *cleanup) error {
	brokerArgs := func(addr string) []string {
		return []string{"broker", "--data-dir", filepath.Join(r.dir, "broker"), "--kafka-addr", addr, "--log-level", "warn"}
	}
	r.broker = newProcess("broker", r.dir, nil, brokerArgs("127.0.0.1:0")...)
	if err := r.broker.start(r.o.Binary); err != nil {
		return err
	}
	undo.add(func() { _ = r.broker.signal(syscall.SIGTERM, 30*time.Second) })
	l, err := waitListening(ctx, r.broker, 60*time.Second)
	if err != nil {
		return err
	}
	r.brokerAdr = l.Kafka[0]
	r.broker.args = brokerArgs(r.brokerAdr)
	return nil
}

// stream sends the known stream, with the probes running, and injects the
// fault Trials times along it. It returns once the stream is sent and the
// work the faults started is done, with the takeovers it measured.
func (r *run) stream(ctx context.Context, undo *cleanup) (*reference, *feeder, []time.Duration, error) {
	var err error
	if r.probes, err = newProbes(r.brokerAdr, tables.DefaultLayout().Partitions); err != nil {
		return nil, nil, nil, err
	}
	undo.add(r.probes.close)
	pctx, stopProbes := context.WithCancel(ctx)
	undo.add(stopProbes)
	go r.probes.run(pctx)

	ref := newReference(r.before)
	feed, err := newFeeder(r, ref, r.o.Load.Rounds)
	if err != nil {
		return nil, nil, nil, err
	}
	undo.add(feed.close)
	g := loadgen.NewGenerator(r.o.Load, time.Now())
	lo := g.Options()
	events := lo.Tenants * lo.Sources * lo.Metrics * int(lo.Rounds)
	duration := time.Duration(float64(events) / r.o.Rate * float64(time.Second))
	loadDone := make(chan error, 1)
	go func() {
		_, err := loadgen.Run(ctx, g, feed, loadgen.RunOptions{Rate: r.o.Rate})
		loadDone <- err
	}()
	takeovers, err := r.trials(ctx, duration)
	if err != nil {
		return nil, nil, nil, err
	}
	if err := <-loadDone; err != nil {
		return nil, nil, nil, fmt.Errorf("load: %w", err)
	}
	r.background.Wait()
	stopProbes()
	return ref, feed, takeovers, nil
}

// trials injects the fault Trials times, evenly spread over a stream that
// takes duration, and measures each takeover.
func (r *run) trials(ctx context.Context, duration time.Duration) ([]time.Duration, error) {
	var takeovers []time.Duration
	for i := 0; i < r.o.Trials; i++ {
		at := duration * time.Duration(2*i+1) / time.Duration(2*r.o.Trials+1)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Until(r.probes.started.Add(at))):
		}
		t0 := time.Now()
		if err := r.inject(ctx, i); err != nil {
			return nil, err
		}
		d, err := r.probes.waitAllAfter(ctx, r.dbURL, t0, 2*time.Minute)
		if err != nil {
			r.problem(fmt.Sprintf("trial %d: %v", i+1, err))
		} else {
			takeovers = append(takeovers, d)
		}
		r.row.Trials++
	}
	return takeovers, nil
}

// finish brings back every replica the faults took away, then checks the
// outcome against the reference and counts the exits and restarts.
func (r *run) finish(ctx context.Context, ref *reference, feed *feeder, takeovers []time.Duration) error {
	for _, rep := range r.replicaList() {
		if !rep.p.running() {
			if err := r.restartReplica(ctx, rep); err != nil {
				return err
			}
		}
	}
	if len(takeovers) > 0 {
		ps := bench.Percentiles(takeovers, 0.5, 1)
		r.row.TakeoverP50, r.row.TakeoverMax = ps[0], ps[1]
	}
	if err := r.check(ctx, ref, feed); err != nil {
		return err
	}
	for _, rep := range r.replicaList() {
		r.row.UnexpectedExits += len(rep.p.unexpectedExits(r.caused[rep.p]))
		r.row.StageRestarts += int(scrape(rep.base(), "eventops_stage_restarts_total"))
	}
	return nil
}

// problem notes something wrong the counts do not say.
func (r *run) problem(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.row.Problems = appendCapped(r.row.Problems, s)
}

func regexpSafe(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			b[i] = '_'
		}
	}
	return string(b)
}

// restartBroker brings the broker back on its address.
func (r *run) restartBroker(ctx context.Context) error {
	return onSameAddr(ctx, "the broker", func() error {
		if err := r.broker.start(r.o.Binary); err != nil {
			return err
		}
		_, err := waitListening(ctx, r.broker, 60*time.Second)
		return err
	}, func(err error) bool { return errors.Is(err, errAddrInUse) })
}

func (r *run) addReplica(ctx context.Context) (*replica, error) {
	r.mu.Lock()
	i := len(r.replicas)
	rep := &replica{p: newProcess("replica-"+strconv.Itoa(i), r.dir, nil, "run",
		"--brokers", r.brokerAdr, "--database-url", r.dbURL, "--stages", "ingest,features,sink,api,notify",
		"--data-dir", filepath.Join(r.dir, "replica-"+strconv.Itoa(i)), "--http-addr", "127.0.0.1:0",
		"--auth", "none", "--rules", r.rulesFile, "--alerting", r.alertingFile,
		"--flush-interval", "2s", "--client-id", "chaos-"+strconv.Itoa(i))}
	r.replicas = append(r.replicas, rep)
	r.mu.Unlock()
	return rep, r.restartReplica(ctx, rep)
}

// replicaList returns the replicas so far.
func (r *run) replicaList() []*replica {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*replica(nil), r.replicas...)
}

// apis returns the API base URLs of the replicas running now.
func (r *run) apis() []string {
	var out []string
	for _, rep := range r.replicaList() {
		if rep.p.running() && rep.p.listening().HTTP != "" {
			out = append(out, rep.base())
		}
	}
	return out
}

// restartReplica starts the replica (again), on a port of its choosing,
// and waits until it is ready.
func (r *run) restartReplica(ctx context.Context, rep *replica) error {
	if err := rep.p.start(r.o.Binary); err != nil {
		return err
	}
	l, err := waitListening(ctx, rep.p, 90*time.Second)
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.senders = append(r.senders, sender{addr: l.HTTP, name: rep.p.name, from: time.Now()})
	r.mu.Unlock()
	return waitReady(ctx, rep.base(), rep.p, 90*time.Second)
}

// senderOf names the replica whose run served the API at addr at t.
func (r *run) senderOf(addr string, t time.Time) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	name := "unknown (" + addr + ")"
	for _, s := range r.senders {
		if s.addr == addr && !s.from.After(t) {
			name = s.name
		}
	}
	return name
}

func (r *run) stopAll() {
	var wg sync.WaitGroup
	for _, rep := range r.replicaList() {
		if rep.p.running() {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r.mu.Lock()
				r.caused[rep.p]++
				r.mu.Unlock()
				_ = rep.p.signal(syscall.SIGTERM, 60*time.Second)
			}()
		}
	}
	wg.Wait()
}

// createSilence mutes the alerts of the silenced host for the run, through
// the API as a user would.
func (r *run) createSilence(ctx context.Context) error {
	body, err := json.Marshal(map[string]any{
		"tenant": streamTenant, "matchers": []string{`host="` + silencedHost + `"`},
		"ends_at": time.Now().Add(24 * time.Hour).UTC(), "created_by": "eventops chaos", "comment": "the harness's silenced host",
	})
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.replicaList()[0].base()+"/silences", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("creating the silence: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("creating the silence: %s: %s", resp.Status, msg)
	}
	return nil
}

// inject makes one fault happen and, where the fault takes something away,
// brings it back.
func (r *run) inject(ctx context.Context, trial int) error {
	pick := func() *replica {
		var live []*replica
		for _, rep := range r.replicaList() {
			if rep.p.running() {
				live = append(live, rep)
			}
		}
		return live[rand.IntN(len(live))]
	}
	r.o.Logger.Info("injecting", "fault", r.fault, "trial", trial+1)
	switch r.fault {
	case FaultKill, FaultTerm:
		rep := pick()
		sig := syscall.SIGKILL
		if r.fault == FaultTerm {
			sig = syscall.SIGTERM
		}
		r.mu.Lock()
		r.caused[rep.p]++
		if sig == syscall.SIGKILL {
			r.kills = append(r.kills, kill{addr: rep.p.listening().HTTP, name: rep.p.name, at: time.Now()})
		}
		r.mu.Unlock()
		if err := rep.p.signal(sig, 60*time.Second); err != nil {
			r.problem(err.Error())
		}
		// It comes back a few seconds later, as a supervisor would bring it.
		r.background.Add(1)
		go func() {
			defer r.background.Done()
			<-time.After(3 * time.Second)
			if err := r.restartReplica(ctx, rep); err != nil {
				r.o.Logger.Error("restarting a replica", "err", err)
			}
		}()
	case FaultAdd:
		if _, err := r.addReplica(ctx); err != nil {
			return err
		}
	case FaultBroker:
		if err := r.broker.signal(syscall.SIGTERM, 60*time.Second); err != nil {
			r.problem(err.Error())
		}
		if err := r.restartBroker(ctx); err != nil {
			return err
		}
	case FaultPostgres:
		return r.postgresDown(ctx)
	case FaultPoison:
		wants, err := sendPoison(ctx, r.brokerAdr, trial)
		r.poison = append(r.poison, wants...)
		r.row.Poison += len(wants)
		return err
	default:
		return fmt.Errorf("unknown fault %q", r.fault)
	}
	return nil
}

// postgresDown stops PostgreSQL for PostgresDown and watches the replicas'
// memory meanwhile.
func (r *run) postgresDown(ctx context.Context) error {
	replicas := r.replicaList()
	for _, rep := range replicas {
		r.row.BaselineRSS = max(r.row.BaselineRSS, bench.PidRSS(rep.p.pid()))
	}
	if err := r.pg.Stop(); err != nil {
		return err
	}
	deadline := time.Now().Add(r.o.PostgresDown)
	for time.Now().Before(deadline) {
		for _, rep := range replicas {
			r.row.PeakRSS = max(r.row.PeakRSS, bench.PidRSS(rep.p.pid()))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
	// Back on its port, where the replicas look for it.
	return onSameAddr(ctx, "PostgreSQL", func() error {
		pg, err := pglocal.Start(ctx, pglocal.Options{Dir: filepath.Join(r.o.Dir, "postgres"), Port: r.pgPort, Logger: r.o.Logger, Database: "chaos"})
		if err != nil {
			return err
		}
		*r.pg = *pg
		return nil
	}, func(err error) bool { return errors.Is(err, pglocal.ErrPortInUse) })
}

// scrape sums a metric's series on a replica's /-/metrics.
func scrape(base, name string) float64 {
	resp, err := http.Get(base + "/-/metrics")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	var sum float64
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, name+" ") || strings.HasPrefix(line, name+"{") {
			f := strings.Fields(line)
			v, _ := strconv.ParseFloat(f[len(f)-1], 64)
			sum += v
		}
	}
	return sum
}

// probes write one event every 200 ms to a source of each partition, so
// that a takeover is seen as the moment every partition processes again.
type probes struct {
	cl      *kgo.Client
	hosts   []string
	started time.Time
}

func newProbes(broker string, partitions int32) (*probes, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker), kgo.RecordPartitioner(kgotables.Partitioner()))
	if err != nil {
		return nil, err
	}
	p := &probes{cl: cl, hosts: make([]string, partitions), started: time.Now()}
	found := 0
	for i := 0; found < int(partitions); i++ {
		h := "probe-" + strconv.Itoa(i)
		part := tables.Partition(tables.SourceKey("probe", h), partitions)
		if p.hosts[part] == "" {
			p.hosts[part] = h
			found++
		}
	}
	return p, nil
}

func (p *probes) close() { p.cl.Close() }

func (p *probes) run(ctx context.Context) {
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			for _, h := range p.hosts {
				v := fmt.Sprintf(`{"tenant_id":"probe","host":%q,"metric":"probe","value":1,"ts_event":%q}`, h, now.UTC().Format(time.RFC3339Nano))
				p.cl.Produce(ctx, &kgo.Record{Topic: tables.RawTopic, Key: []byte("probe/" + h), Value: []byte(v)}, nil)
			}
		}
	}
}

// waitAllAfter returns how long after t0 every probe source had a row in
// PostgreSQL for an event produced after t0.
func (p *probes) waitAllAfter(ctx context.Context, dbURL string, t0 time.Time, timeout time.Duration) (time.Duration, error) {
	deadline := t0.Add(timeout)
	for time.Now().Before(deadline) {
		n, err := func() (int, error) {
			qctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			conn, err := pgx.Connect(qctx, dbURL)
			if err != nil {
				return 0, err
			}
			defer conn.Close(qctx)
			var n int
			err = conn.QueryRow(qctx, `SELECT count(DISTINCT source_id) FROM metrics WHERE tenant = 'probe' AND ts > $1`, t0).Scan(&n)
			return n, err
		}()
		if err == nil && n == len(p.hosts) {
			return time.Since(t0), nil
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return 0, fmt.Errorf("some partitions did not process again within %s", timeout)
}
