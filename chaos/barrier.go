package chaos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eventops/eventops/rules"
	"github.com/eventops/eventops/tables"
)

// groupTopic is a consumer group of a stage and a topic it reads.
type groupTopic struct{ group, topic string }

// Before the reload, the stages that decide what the rules see; after the
// stream, every stage, in the order records flow.
var (
	reloadStages = []groupTopic{
		{tables.IngestGroup, tables.RawTopic}, {tables.FeaturesGroup, tables.SignalsTopic},
	}
	allStages = []groupTopic{
		{tables.IngestGroup, tables.RawTopic}, {tables.FeaturesGroup, tables.SignalsTopic},
		{tables.SinkGroup, tables.SignalsTopic}, {tables.SinkGroup, tables.AlertsTopic},
		{tables.NotifyGroup, tables.AlertsTopic},
	}
)

// waitCommitted waits until each stage, in turn, has committed its topic
// up to the end offsets the topic had when the stage's turn came: every
// record written before is then processed, and its results durable (a
// stage commits only behind durable work). Records written meanwhile (the
// probes) do not hold it up.
func (r *run) waitCommitted(ctx context.Context, stages []groupTopic, timeout time.Duration) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(r.brokerAdr))
	if err != nil {
		return err
	}
	adm := kadm.NewClient(cl)
	defer adm.Close()
	deadline := time.Now().Add(timeout)
	for _, st := range stages {
		var ends kadm.ListedOffsets
		for {
			qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			ends, err = adm.ListEndOffsets(qctx, st.topic)
			cancel()
			if err == nil {
				err = ends.Error()
			}
			if err == nil {
				break
			}
			if !time.Now().Before(deadline) {
				return fmt.Errorf("end offsets of %s: %w", st.topic, err)
			}
			if err := pause(ctx, 200*time.Millisecond); err != nil {
				return err
			}
		}
		for {
			behind, err := behindEnds(ctx, adm, st, ends)
			if err == nil && behind == 0 {
				break
			}
			if !time.Now().Before(deadline) {
				if err == nil {
					err = fmt.Errorf("%d partitions behind", behind)
				}
				return fmt.Errorf("%s did not commit %s up to its end offsets within %s: %w", st.group, st.topic, timeout, err)
			}
			if err := pause(ctx, 200*time.Millisecond); err != nil {
				return err
			}
		}
	}
	return nil
}

// behindEnds counts the partitions the group has not committed up to ends.
func behindEnds(ctx context.Context, adm *kadm.Client, st groupTopic, ends kadm.ListedOffsets) (int, error) {
	qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	committed, err := adm.FetchOffsets(qctx, st.group)
	if err != nil {
		return 0, err
	}
	behind := 0
	ends.Each(func(o kadm.ListedOffset) {
		if c, ok := committed.Lookup(st.topic, o.Partition); o.Offset > 0 && (!ok || c.Err != nil || c.At < o.Offset) {
			behind++
		}
	})
	return behind, nil
}

// reloadAll puts RulesAfter in force: it rewrites the rule file (a replica
// started from now on reads it) and has every replica reload it, waiting
// for those a fault took away to come back.
func (r *run) reloadAll(ctx context.Context) error {
	if err := os.WriteFile(r.rulesFile, []byte(RulesAfter), 0o644); err != nil {
		return err
	}
	for _, rep := range r.replicaList() {
		if err := r.reload(ctx, rep, 90*time.Second); err != nil {
			r.problem(err.Error())
		}
	}
	return nil
}

func (r *run) reload(ctx context.Context, rep *replica, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	last := errors.New("it is not running")
	for time.Now().Before(deadline) {
		if rep.p.running() && rep.p.listening().HTTP != "" {
			if last = reloadRules(ctx, rep.base(), r.after); last == nil {
				return nil
			}
		}
		if err := pause(ctx, 250*time.Millisecond); err != nil {
			return err
		}
	}
	return fmt.Errorf("%s did not put the new rules in force within %s: %w", rep.p.name, timeout, last)
}

// reloadRules calls POST /-/reload and checks that GET /rules lists
// exactly the rules of want.
func reloadRules(ctx context.Context, base string, want *rules.RuleSet) error {
	if _, err := call(ctx, http.MethodPost, base+"/-/reload"); err != nil {
		return err
	}
	body, err := call(ctx, http.MethodGet, base+"/rules")
	if err != nil {
		return err
	}
	var got struct {
		Rules []struct{ Group, Name, Expr string }
	}
	if err := json.Unmarshal(body, &got); err != nil {
		return fmt.Errorf("GET /rules: %w", err)
	}
	var have, wanted []string
	for _, g := range got.Rules {
		have = append(have, g.Group+"/"+g.Name+": "+g.Expr)
	}
	for r := range want.Rules() {
		wanted = append(wanted, r.Group()+"/"+r.Name()+": "+r.Expr())
	}
	slices.Sort(have)
	slices.Sort(wanted)
	if !slices.Equal(have, wanted) {
		return fmt.Errorf("GET /rules lists %s, want %s", strings.Join(have, "; "), strings.Join(wanted, "; "))
	}
	return nil
}

// call makes a request and returns the body of a 2xx answer.
func call(ctx context.Context, method, url string) ([]byte, error) {
	qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(qctx, method, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("%s %s: %s: %s", method, url, resp.Status, body)
	}
	return body, nil
}

// measureJunkClear records how long after t0 every record of the junk
// burst was in the DLQ and every partition stored a new probe event: the
// time the burst held the pipeline up.
func (r *run) measureJunkClear(ctx context.Context, t0 time.Time, burst []*dlqWant) {
	defer r.background.Done()
	d, err := r.probes.waitAllAfter(ctx, r.dbURL, t0, 2*time.Minute)
	if err != nil {
		r.problem("after the junk burst: " + err.Error())
	}
	// A record missing from the DLQ is counted by the checks.
	for _, e := range r.dlq.waitFound(ctx, burst, t0.Add(2*time.Minute)) {
		if e != nil {
			d = max(d, e.at.Sub(t0))
		}
	}
	r.mu.Lock()
	r.row.JunkClear = d
	r.mu.Unlock()
}
