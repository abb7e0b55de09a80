package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/eventops/eventops/backtest"
	"github.com/eventops/eventops/rules"
	"github.com/eventops/eventops/store"
	"github.com/eventops/eventops/tables"
)

// scriptedHistory serves backtestSamples as signals. It fails after
// failAfter signals (0: never), and from its second scan on it holds one
// more sample, as a sample written while a backtest runs would be.
type scriptedHistory struct {
	failAfter int
	late      *tables.Signal
	scans     int
}

var errHistoryBroke = errors.New("history broke")

func (h *scriptedHistory) ScanSignals(ctx context.Context, q store.SignalScan, fn func(*tables.Signal) error) error {
	h.scans++
	var sigs []*tables.Signal
	for _, r := range backtestSamples() {
		if r.Ts.Before(q.From) || !r.Ts.Before(q.To) || q.Tenant != "" && r.Tenant != q.Tenant || q.Host != "" && r.SourceID != q.Host {
			continue
		}
		sigs = append(sigs, &tables.Signal{Tenant: r.Tenant, Host: r.SourceID,
			Samples: []tables.Sample{{Metric: r.Metric, Unit: r.Unit, Value: r.Value, TsMicro: r.Ts.UnixMicro()}}})
	}
	if h.scans > 1 && h.late != nil {
		sigs = append(sigs, h.late)
	}
	slices.SortStableFunc(sigs, func(a, b *tables.Signal) int {
		return cmp.Or(cmp.Compare(a.Tenant, b.Tenant), cmp.Compare(a.Host, b.Host), cmp.Compare(a.Samples[0].TsMicro, b.Samples[0].TsMicro))
	})
	for i, sig := range sigs {
		if h.failAfter > 0 && i == h.failAfter {
			return errHistoryBroke
		}
		if err := fn(sig); err != nil {
			return err
		}
	}
	return nil
}

// loadBacktestFiles loads the rule files of testdata/backtest.
func loadBacktestFiles(t *testing.T, file, compare string) backtestFiles {
	t.Helper()
	var in backtestFiles
	var err error
	if in.rules, err = rules.LoadFiles(rules.Options{}, testdataFile(file)); err != nil {
		t.Fatal(err)
	}
	if compare != "" {
		if in.old, err = rules.LoadFiles(rules.Options{}, testdataFile(compare)); err != nil {
			t.Fatal(err)
		}
	}
	return in
}

func backtestArgsOver(format string) backtestArgs {
	return backtestArgs{rules: "new.yml", compare: "old.yml", from: backtestStart, to: backtestStart.Add(2 * time.Hour), format: format}
}

var _ backtest.History = (*scriptedHistory)(nil)

// A history that fails half-way stops the backtest with its error, and
// the JSON written so far is still one document, which says so.
func TestBacktestJSONStaysOneDocumentWhenTheHistoryFails(t *testing.T) {
	var out strings.Builder
	h := &scriptedHistory{failAfter: 50}
	err := writeBacktest(context.Background(), &Config{}, backtestArgsOver("json"), loadBacktestFiles(t, "cpu-80.rules.yml", ""), h, &out)
	if !errors.Is(err, errHistoryBroke) {
		t.Fatalf("err %v, want the history's", err)
	}
	var doc struct {
		Transitions []rules.Transition `json:"transitions"`
		Error       string             `json:"error"`
	}
	if err := json.Unmarshal([]byte(out.String()), &doc); err != nil {
		t.Fatalf("not one JSON document: %v\n%s", err, out.String())
	}
	if len(doc.Transitions) == 0 || !strings.Contains(doc.Error, errHistoryBroke.Error()) {
		t.Errorf("%d transitions, error %q", len(doc.Transitions), doc.Error)
	}
}

// Both rule files of a comparison see the same samples, even when one is
// written while the backtest runs: the same file compared with itself
// differs in nothing.
func TestBacktestCompareReadsTheHistoryOnce(t *testing.T) {
	late := &tables.Signal{Tenant: "acme", Host: "web-2", Samples: []tables.Sample{{Metric: "cpu_load", Unit: "percent", Value: 99,
		TsMicro: backtestStart.Add(119*time.Minute + 30*time.Second).UnixMicro()}}}
	h := &scriptedHistory{late: late}
	var out strings.Builder
	a := backtestArgsOver("json")
	if err := writeBacktest(context.Background(), &Config{}, a, loadBacktestFiles(t, "cpu-80.rules.yml", "cpu-80.rules.yml"), h, &out); err != nil {
		t.Fatal(err)
	}
	var doc backtestDoc
	if err := json.Unmarshal([]byte(out.String()), &doc); err != nil {
		t.Fatal(err)
	}
	for _, r := range doc.Compare.Rules {
		if r.Differs() || len(r.Series) > 0 {
			t.Errorf("%s differs from itself: %+v", r.AlertName, r.DiffCounts)
		}
	}
	if doc.Old.Stats.Samples != doc.Stats.Samples || h.scans != 1 {
		t.Errorf("%d and %d samples, %d scans", doc.Old.Stats.Samples, doc.Stats.Samples, h.scans)
	}
}

// The range ends now at the latest: its end is where the sources' timers
// are caught up to, and time after now has not happened.
func TestBacktestRangeEndsNowAtTheLatest(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	f := func(to string, want time.Time, clamped bool) {
		t.Helper()
		a, err := parseBacktestArgs(&Config{DatabaseURL: "postgres://x"}, []string{"--rules", "r.yml", "--from", "-7d", "--to", to}, now)
		if err != nil || !a.to.Equal(want) || a.toAsked.IsZero() == clamped {
			t.Errorf("--to %s: to %v (asked %v), %v; want %v", to, a.to, a.toAsked, err, want)
		}
	}
	f("now", now, false)
	f("-1h", now.Add(-time.Hour), false)
	f("2026-03-08T00:00:00Z", now, true)
	var out strings.Builder
	p := &tablePrinter{w: &out}
	a, _ := parseBacktestArgs(&Config{DatabaseURL: "postgres://x"}, []string{"--rules", "r.yml", "--from", "-7d", "--to", "2026-03-08T00:00:00Z"}, now)
	if err := p.begin(a); err != nil || !strings.Contains(out.String(), "--to 2026-03-08T00:00:00Z is after now: the range ends now") {
		t.Errorf("header %q, %v", out.String(), err)
	}
}

// The help names where the database URL comes from, never the URL: it
// may hold a password.
func TestBacktestHelpHidesTheDatabaseURL(t *testing.T) {
	t.Parallel()
	out, errOut, code := runEventops(t, []string{"DATABASE_URL=postgres://bob:s3cret@db.example/events"}, "rules", "backtest", "--help")
	if code != 0 || !strings.Contains(out, "-database-url") || strings.Contains(out+errOut, "s3cret") {
		t.Errorf("exit %d:\n%s%s", code, out, errOut)
	}
}

// A range that starts while an alert fires (its windows read in the
// lead-in before it) counts the episode as fired, its firing time and its
// resolution from the range's start only, and not the page sent before.
func TestBacktestRangeThatStartsWhileAnAlertFires(t *testing.T) {
	file := filepath.Join(t.TempDir(), "avg.rules.yml")
	if err := os.WriteFile(file, []byte(`
metrics: [{name: cpu_load, kind: gauge}]
groups:
  - name: host
    rules:
      - alert: HighCPU
        expr: avg("cpu_load", "5m") > 90
        for: 2m
`), 0o644); err != nil {
		t.Fatal(err)
	}
	rs, err := rules.LoadFiles(rules.Options{}, file)
	if err != nil {
		t.Fatal(err)
	}
	// web-1 fires at minute 49 (95 from 45 on) and resolves at 52.
	a := backtestArgs{rules: file, from: backtestStart.Add(51 * time.Minute), to: backtestStart.Add(2 * time.Hour), format: "json"}
	var out strings.Builder
	if err := writeBacktest(context.Background(), &Config{}, a, backtestFiles{rules: rs}, &scriptedHistory{}, &out); err != nil {
		t.Fatal(err)
	}
	var doc backtestDoc
	if err := json.Unmarshal([]byte(out.String()), &doc); err != nil {
		t.Fatal(err)
	}
	r := doc.Summary.Rules[0]
	if r.Episodes != 1 || r.Fired != 1 || r.FiringMilli != 60_000 || r.Notifications != (backtest.Notifications{Resolved: 1}) {
		t.Errorf("%d transitions, summary %+v", len(doc.Transitions), r)
	}
}

// Each rule file of a comparison gets the lead-in its rules need: a rule
// of the old file only, with a window longer than any of the new file's,
// has the episodes it has when its file is replayed alone.
func TestBacktestCompareGivesEachFileItsLeadIn(t *testing.T) {
	file := filepath.Join(t.TempDir(), "old.rules.yml")
	if err := os.WriteFile(file, []byte(`
metrics: [{name: cpu_load, kind: gauge}]
groups:
  - name: host
    rules:
      - alert: HighCPU
        expr: last("cpu_load") > 90
        for: 2m
        labels: {severity: critical}
      - alert: CalmQuarter
        expr: avg("cpu_load", "15m") < 60
`), 0o644); err != nil {
		t.Fatal(err)
	}
	old, err := rules.LoadFiles(rules.Options{}, file)
	if err != nil {
		t.Fatal(err)
	}
	a := backtestArgs{rules: file, from: backtestStart.Add(25 * time.Minute), to: backtestStart.Add(2 * time.Hour), format: "json"}
	run := func(in backtestFiles) backtestDoc {
		t.Helper()
		var out strings.Builder
		if err := writeBacktest(context.Background(), &Config{}, a, in, &scriptedHistory{}, &out); err != nil {
			t.Fatal(err)
		}
		var doc backtestDoc
		if err := json.Unmarshal([]byte(out.String()), &doc); err != nil {
			t.Fatal(err)
		}
		return doc
	}
	alone := run(backtestFiles{rules: old})
	in := loadBacktestFiles(t, "cpu-90.rules.yml", "")
	in.old = old
	compared := run(in)
	if !reflect.DeepEqual(compared.Old.Summary.Rules, alone.Summary.Rules) {
		t.Errorf("the old file compared:\n%+v\nalone:\n%+v", compared.Old.Summary.Rules, alone.Summary.Rules)
	}
}
