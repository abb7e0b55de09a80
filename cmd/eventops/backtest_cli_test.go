package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/eventops/eventops/backtest"
	"github.com/eventops/eventops/rules"
	"github.com/eventops/eventops/store"
	"github.com/eventops/eventops/store/storetest"
)

// backtestStart is the start of the stored history the backtest tests
// replay: two hours of cpu_load, a sample a minute, on two hosts of acme.
var backtestStart = time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)

// backtestSamples: web-1 sits at 50 and goes above 80 three times (85 at
// minutes 10-19, 40-54 and 80-89) and above 90 once, within the second
// (95 at minutes 45-49); web-2 goes above 90 at the same minutes 45-49.
func backtestSamples() []store.MetricRow {
	var rows []store.MetricRow
	for m := 0; m < 120; m++ {
		ts := backtestStart.Add(time.Duration(m) * time.Minute)
		web1, web2 := 50.0, 50.0
		switch {
		case m >= 45 && m < 50:
			web1, web2 = 95, 95
		case m >= 10 && m < 20, m >= 40 && m < 55, m >= 80 && m < 90:
			web1 = 85
		}
		for host, v := range map[string]float64{"web-1": web1, "web-2": web2} {
			rows = append(rows, store.MetricRow{Ts: ts, Tenant: "acme", SourceID: host, Metric: "cpu_load", Value: v,
				Unit: "percent", Tags: []byte(`{}`), IngestedAt: ts})
		}
	}
	return rows
}

// backtestDatabase returns the URL of a fresh database holding
// backtestSamples, written by the store's own writer.
func backtestDatabase(t *testing.T) string {
	t.Helper()
	url := storetest.NewDatabase(t)
	ctx, cancel := context.WithTimeout(context.Background(), patience(60*time.Second))
	defer cancel()
	db, err := store.Open(ctx, store.Options{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	rows := backtestSamples()
	res, err := db.WriteMetrics(ctx, rows)
	if err != nil {
		t.Fatal(err)
	}
	if res.Inserted != int64(len(rows)) {
		t.Fatalf("stored %+v of %d samples", res, len(rows))
	}
	return url
}

// runEventops runs the binary with args and env and returns its stdout,
// stderr and exit code.
func runEventops(t *testing.T, env []string, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), patience(60*time.Second))
	defer cancel()
	cmd := exec.CommandContext(ctx, eventopsBinary(t), args...)
	cmd.Env = append(environWithout("DATABASE_URL", "EVENTOPS_DATABASE_URL"), env...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return stdout.String(), stderr.String(), code
}

// environWithout is the environment without the variables named.
func environWithout(names ...string) []string {
	var out []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if !slices.Contains(names, name) {
			out = append(out, kv)
		}
	}
	return out
}

// backtestDoc is the JSON document of a backtest.
type backtestDoc struct {
	Transitions []rules.Transition   `json:"transitions"`
	Open        []rules.Transition   `json:"open"`
	Summary     backtest.Summary     `json:"summary"`
	Stats       backtestStats        `json:"stats"`
	Old         *backtestSide        `json:"old"`
	Compare     *backtest.Comparison `json:"compare"`
}

func testdataFile(name string) string { return filepath.Join("testdata", "backtest", name) }

func backtestJSON(t *testing.T, url string, args ...string) backtestDoc {
	t.Helper()
	out, errOut, code := runEventops(t, []string{"DATABASE_URL=" + url}, append([]string{"rules", "backtest",
		"--from", backtestStart.Format(time.RFC3339), "--to", backtestStart.Add(2 * time.Hour).Format(time.RFC3339),
		"--format", "json"}, args...)...)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	var doc backtestDoc
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("not one JSON document: %v\n%s", err, out)
	}
	return doc
}

func at(min int) rules.Timestamp {
	return rules.Timestamp(backtestStart.Add(time.Duration(min) * time.Minute).UnixMilli())
}

// The two rule files differ by one threshold (80, 90): the history runs
// through both, and the differences are exactly those the samples make.
func TestBacktestCompareOneThreshold(t *testing.T) {
	t.Parallel()
	url := backtestDatabase(t)
	doc := backtestJSON(t, url, "--rules", testdataFile("cpu-90.rules.yml"), "--compare", testdataFile("cpu-80.rules.yml"))

	// The transitions of --rules: web-1 and web-2 each pending at 45,
	// firing at 47 (for: 2m), resolved at 50.
	var got []string
	for _, tr := range doc.Transitions {
		got = append(got, tr.Host+" "+tr.State+" "+tr.At.String())
	}
	var want []string
	for _, h := range []string{"web-1", "web-2"} {
		want = append(want, h+" pending "+at(45).String(), h+" firing "+at(47).String(), h+" resolved "+at(50).String())
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("transitions:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if doc.Stats.Samples != 240 || doc.Stats.Transitions != 6 || doc.Stats.Sources != 2 {
		t.Errorf("stats %+v", doc.Stats)
	}

	// Above 90: two episodes of 3 minutes firing; the hosts fire together,
	// one page under group_by alertname; they resolve one after the other
	// in the same millisecond, and a resolution does not wait: two notices.
	if len(doc.Summary.Rules) != 1 {
		t.Fatalf("summary %+v", doc.Summary)
	}
	if r := doc.Summary.Rules[0]; r.AlertName != "HighCPU" || r.Episodes != 2 || r.Fired != 2 || r.FiringMilli != 6*60_000 ||
		r.Series != 2 || r.Notifications != (backtest.Notifications{Pages: 1, Resolved: 2}) {
		t.Errorf("summary of --rules: %+v", r)
	}
	// Above 80: four episodes (three on web-1, one on web-2), firing
	// 8 + 13 + 8 + 3 minutes; pages at 12m30s, 42m30s, 47m30s (web-2 joins
	// the open group, group_interval after its first page) and 82m30s;
	// resolutions at 20, 50, 55 and 90.
	if doc.Old == nil || len(doc.Old.Summary.Rules) != 1 {
		t.Fatalf("old %+v", doc.Old)
	}
	if r := doc.Old.Summary.Rules[0]; r.Episodes != 4 || r.Fired != 4 || r.FiringMilli != 32*60_000 || r.Series != 2 ||
		r.Notifications != (backtest.Notifications{Pages: 4, Resolved: 4}) {
		t.Errorf("summary of --compare: %+v", r)
	}

	if doc.Compare == nil || len(doc.Compare.Rules) != 1 {
		t.Fatalf("compare %+v", doc.Compare)
	}
	d := doc.Compare.Rules[0]
	if d.OldRuleID == d.NewRuleID || d.OldRuleID == 0 {
		t.Errorf("rule IDs %v, %v: the threshold is part of a rule's ID", d.OldRuleID, d.NewRuleID)
	}
	wantCounts := backtest.DiffCounts{EpisodesOld: 4, EpisodesNew: 2, FiredOld: 4, FiredNew: 2, Removed: 2, Later: 1,
		FiringMilliOld: 32 * 60_000, FiringMilliNew: 6 * 60_000, FiringDeltaMilli: -26 * 60_000}
	if d.DiffCounts != wantCounts {
		t.Errorf("HighCPU:\n got %+v\nwant %+v", d.DiffCounts, wantCounts)
	}
	// web-2 is the same under both: only web-1 differs.
	if len(d.Series) != 1 || d.Series[0].Host != "web-1" {
		t.Fatalf("series %+v", d.Series)
	}
	var changes []string
	for _, c := range d.Series[0].Changes {
		s := c.Kind
		if c.Old != nil {
			s += " old " + c.Old.PendingAt.String() + ".." + c.Old.EndAt.String()
		}
		if c.New != nil {
			s += " new " + c.New.PendingAt.String() + ".." + c.New.EndAt.String()
		}
		changes = append(changes, s)
	}
	wantChanges := []string{
		"removed old " + at(10).String() + ".." + at(20).String(),
		"later old " + at(40).String() + ".." + at(55).String() + " new " + at(45).String() + ".." + at(50).String(),
		"removed old " + at(80).String() + ".." + at(90).String(),
	}
	if strings.Join(changes, "\n") != strings.Join(wantChanges, "\n") {
		t.Errorf("web-1 changes:\n%s\nwant:\n%s", strings.Join(changes, "\n"), strings.Join(wantChanges, "\n"))
	}
}

// An alert firing at --from (carried in from the lead-in) is reported as
// open there and counted: it fired, from --from, with no page (live paged
// it before) but its resolution; one firing through the whole range, with
// no transition at all, fired for all of it.
func TestBacktestCarriesOpenEpisodes(t *testing.T) {
	t.Parallel()
	url := backtestDatabase(t)
	rulesFile := testdataFile("cpu-80.rules.yml")
	// 00:15 to 01:00: web-1 fires at 00:12 (above 80 since 00:10) and
	// resolves at 00:20; then its episode of 00:40 and web-2's of 00:45
	// page at 00:42:30 and 00:47:30, and resolve at 00:55 and 00:50.
	doc := backtestJSON(t, url, "--rules", rulesFile, "--from", at(15).String(), "--to", at(60).String(), "--lead-in", "10m")
	if len(doc.Open) != 1 || doc.Open[0].Host != "web-1" || doc.Open[0].State != rules.StateFiring ||
		doc.Open[0].StartsAt != at(12) || doc.Open[0].ActiveAt != at(10) || doc.Open[0].At != at(15) {
		t.Fatalf("open at --from: %+v", doc.Open)
	}
	if r := doc.Summary.Rules[0]; r.Episodes != 3 || r.Carried != 1 || r.Fired != 3 || r.FiringMilli != (5+13+3)*60_000 ||
		r.Notifications != (backtest.Notifications{Pages: 2, Resolved: 3}) {
		t.Errorf("summary from 00:15: %+v", r)
	}
	// 00:13 to 00:19: web-1 fires throughout; nothing is decided.
	doc = backtestJSON(t, url, "--rules", rulesFile, "--from", at(13).String(), "--to", at(19).String(), "--lead-in", "10m")
	if len(doc.Transitions) != 0 || len(doc.Open) != 1 || doc.Open[0].StartsAt != at(12) {
		t.Fatalf("00:13 to 00:19: %d transitions, open %+v", len(doc.Transitions), doc.Open)
	}
	if r := doc.Summary.Rules[0]; r.Episodes != 1 || r.Carried != 1 || r.Fired != 1 || r.FiringMilli != 6*60_000 ||
		r.Notifications != (backtest.Notifications{}) {
		t.Errorf("summary from 00:13 to 00:19: %+v", r)
	}
	// --lead-in 0: each source starts empty at --from, nothing is open.
	if doc := backtestJSON(t, url, "--rules", rulesFile, "--from", at(13).String(), "--to", at(19).String(), "--lead-in", "0"); len(doc.Open) != 0 {
		t.Errorf("--lead-in 0: open %+v", doc.Open)
	}
	// The table says so.
	out, errOut, code := runEventops(t, []string{"DATABASE_URL=" + url}, "rules", "backtest", "--rules", rulesFile,
		"--from", at(13).String(), "--to", at(19).String(), "--lead-in", "10m")
	want := "open at " + at(13).String() + ": host/HighCPU acme/web-1 firing since " + at(12).String()
	if code != 0 || !strings.Contains(out, want) {
		t.Errorf("exit %d, want a line %q:\n%s%s", code, want, out, errOut)
	}
}

// A receivers file that groups by host as well pages each host apart.
func TestBacktestPagesFollowTheReceiversFile(t *testing.T) {
	t.Parallel()
	url := backtestDatabase(t)
	doc := backtestJSON(t, url, "--rules", testdataFile("cpu-90.rules.yml"), "--receivers", testdataFile("by-host.yml"))
	if r := doc.Summary.Rules[0]; r.Notifications != (backtest.Notifications{Pages: 2, Resolved: 2}) || doc.Summary.Routing != "receivers file" {
		t.Errorf("summary %+v", doc.Summary)
	}
	if doc.Compare != nil || doc.Old != nil {
		t.Errorf("a comparison without --compare")
	}
	// --tenant and --host select the sources.
	doc = backtestJSON(t, url, "--rules", testdataFile("cpu-90.rules.yml"), "--tenant", "acme", "--host", "web-2")
	if doc.Stats.Sources != 1 || doc.Stats.Samples != 120 || len(doc.Transitions) != 3 || doc.Transitions[0].Host != "web-2" {
		t.Errorf("--host web-2: %+v, %d transitions", doc.Stats, len(doc.Transitions))
	}
	doc = backtestJSON(t, url, "--rules", testdataFile("cpu-90.rules.yml"), "--tenant", "globex")
	if doc.Stats.Sources != 0 || len(doc.Transitions) != 0 || doc.Summary.Rules[0].Episodes != 0 {
		t.Errorf("--tenant globex: %+v", doc)
	}
}

// A command line the backtest cannot use is refused with the flag named
// and a non-zero exit; so is a rule file that does not load.
func TestBacktestCommandLineErrors(t *testing.T) {
	t.Parallel()
	bad := filepath.Join(t.TempDir(), "bad.rules.yml")
	if err := os.WriteFile(bad, []byte("groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: nope(\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	good := testdataFile("cpu-90.rules.yml")
	db := []string{"DATABASE_URL=postgres://127.0.0.1:1/none?sslmode=disable"}
	for _, c := range []struct {
		env  []string
		args []string
		code int
		want string
	}{
		{db, []string{"--from", "-1h"}, 2, "--rules is required"},
		{db, []string{"--rules", good}, 2, "--from is required"},
		{db, []string{"--rules", good, "--from", "yesterday"}, 2, `--from: "yesterday" is not RFC 3339`},
		{db, []string{"--rules", good, "--from", "-1h", "--to", "-2x"}, 2, `--to: "-2x"`},
		{db, []string{"--rules", good, "--from", "now", "--to", "-1h"}, 2, "--from 20"},
		{db, []string{"--rules", good, "--from", "-1h", "--format", "xml"}, 2, `--format: "xml" is not table or json`},
		{db, []string{"--rules", good, "--from", "-1h", "--lead-in", "-5m"}, 2, `--lead-in: "-5m"`},
		{nil, []string{"--rules", good, "--from", "-1h"}, 2, "--database-url (or DATABASE_URL) is required"},
		{db, []string{"--rules", good, "--from", "-1h", "--colour"}, 2, "-colour"},
		{db, []string{"--rules", bad, "--from", "-1h"}, 1, "--rules: " + bad + ":5"},
		{db, []string{"--rules", good, "--compare", bad, "--from", "-1h"}, 1, "--compare: " + bad + ":5"},
		{db, []string{"--rules", good, "--receivers", bad, "--from", "-1h"}, 1, "--receivers: "},
	} {
		_, errOut, code := runEventops(t, c.env, append([]string{"rules", "backtest"}, c.args...)...)
		if code != c.code || !strings.Contains(errOut, c.want) {
			t.Errorf("%v: exit %d, want %d with %q:\n%s", c.args, code, c.code, c.want, errOut)
		}
	}
}

func TestParseWhen(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"now":                       now,
		"-7d":                       now.Add(-7 * 24 * time.Hour),
		"now-1h30m":                 now.Add(-90 * time.Minute),
		"2026-01-05T10:00:00Z":      time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC),
		"2026-01-05T11:00:00+01:00": time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC),
		"1767607200":                time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC),
	} {
		got, err := parseWhen("--from", in, now)
		if err != nil || !got.Equal(want) {
			t.Errorf("%q: %v %v, want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "-", "-7", "now+1h", "7d", "-1.5h", "2026-01-05"} {
		if _, err := parseWhen("--to", in, now); err == nil || !strings.HasPrefix(err.Error(), "--to: ") {
			t.Errorf("%q: %v, want an error naming --to", in, err)
		}
	}
}

// The README's Backtest section: its rule files are the ones these tests
// load, and its session, run over backtestSamples, prints what it shows.
func TestReadmeBacktest(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	files, session := 0, []readmeBlock(nil)
	for _, b := range readmeFencedBlocks(t) {
		if b.section != "Backtest" {
			continue
		}
		if b.skip == "backtest" {
			session = append(session, b)
			continue
		}
		name, ok := strings.CutPrefix(strings.SplitN(b.body, "\n", 2)[0], "# ")
		if b.lang != "yaml" || !ok {
			continue
		}
		want, err := os.ReadFile(testdataFile(name))
		if err != nil {
			t.Fatalf("README.md:%d: %s is not a file the tests load: %v", b.line, name, err)
		}
		if b.body != string(want) {
			t.Errorf("README.md:%d: %s differs from %s:\n%s", b.line, name, testdataFile(name), b.body)
		}
		if err := os.WriteFile(filepath.Join(dir, name), want, 0o644); err != nil {
			t.Fatal(err)
		}
		files++
	}
	if files != 2 || len(session) != 1 {
		t.Fatalf("the Backtest section has %d rule files and %d sessions, want 2 and 1", files, len(session))
	}
	url := backtestDatabase(t)
	env := append(environWithout("DATABASE_URL", "EVENTOPS_DATABASE_URL"),
		"PATH="+filepath.Dir(eventopsBinary(t))+string(os.PathListSeparator)+os.Getenv("PATH"), "DATABASE_URL="+url)
	cmds := splitCommands(t, session[0].body)
	if len(cmds) == 0 {
		t.Fatal("no command in the session")
	}
	for _, c := range cmds {
		out, errOut, err := runReadmeCommand(t, dir, env, c.text)
		if err != nil {
			t.Fatalf("README.md:%d: %s\n%v\n%s%s", session[0].line, c.text, err, out, errOut)
		}
		if msg := readmeOutputProblem(c, out); msg != "" {
			t.Errorf("README.md:%d: %s\n%s\nit printed:\n%s", session[0].line, c.text, msg, out)
		}
	}
}

func TestExplainLine(t *testing.T) {
	cross := &rules.Explanation{Crossed: &rules.Crossing{Comparison: `avg("cpu_load", "1m") > 90`, Op: ">", Value: 95.5, Threshold: 90, Side: "above"}}
	noSide := &rules.Explanation{Crossed: &rules.Crossing{Comparison: `a > 1`, Op: ">", Value: 2, Threshold: 1}}
	ended := &rules.Explanation{Crossed: cross.Crossed, Resolution: &rules.Resolution{By: "no_data", Value: 84.5}}
	for _, c := range []struct {
		tr   rules.Transition
		want string
	}{
		{rules.Transition{Explanation: cross}, `avg("cpu_load", "1m") > 90: 95.5 above 90`},
		{rules.Transition{Explanation: noSide}, `a > 1: 2 > 1`},
		{rules.Transition{Explanation: ended}, "ended by no data at 84.5"},
		{rules.Transition{Reason: "rule_removed"}, "ended: rule_removed"},
		{rules.Transition{}, ""},
	} {
		if got := explainLine(&c.tr); got != c.want {
			t.Errorf("got %q, want %q", got, c.want)
		}
	}
}
