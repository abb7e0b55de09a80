package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/eventops/eventops/rules"
)

// readmeBlocks returns the bodies of the fenced blocks of lang under the
// README heading section.
func readmeBlocks(t *testing.T, section, lang string) []string {
	t.Helper()
	var out []string
	for _, b := range readmeFencedBlocks(t) {
		if b.section == section && b.lang == lang {
			out = append(out, b.body)
		}
	}
	return out
}

// The README's rule file loads, and its rule unit test passes against it.
func TestReadmeRuleExamples(t *testing.T) {
	blocks := readmeBlocks(t, "Rules", "yaml")
	if len(blocks) != 2 {
		t.Fatalf("the Rules section has %d yaml blocks, want the rule file and its test", len(blocks))
	}
	rs, err := rules.Parse("README rules", []byte(blocks[0]), rules.Options{})
	if err != nil {
		t.Fatalf("the README's rule file does not load:\n%v", err)
	}
	if rs.Len() < 5 {
		t.Fatalf("%d rules", rs.Len())
	}
	res, err := rules.RunTests("README rules test", []byte(blocks[1]), func(name string) ([]byte, error) {
		if name == "host.rules.yml" {
			return []byte(blocks[0]), nil
		}
		return nil, os.ErrNotExist
	}, rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range res.Failures {
		t.Error(f.Error())
	}
	if res.Tests == 0 {
		t.Fatal("the README's rule test ran no test")
	}
	if _, err := rules.Parse("default_rules.yml", defaultRules, rules.Options{}); err != nil {
		t.Fatalf("built-in rules: %v", err)
	}
}

// readmeSkips are the reasons the README's blocks marked
// `<!-- readme-test: skip NAME -->` are not run here.
var readmeSkips = map[string]string{
	"make":      "the test runs `eventops dev` itself, and `make test` is the suite this test is part of",
	"keys":      "needs an `eventops run` with a keys file and a key in $KEY (the access tests cover keys)",
	"scale-out": "starts replicas on fixed ports and directories under /var/lib (the restart and kill tests scale out)",
	"chaos":     "takes minutes (TestChaosSmoke runs the short version)",
	"bench":     "takes minutes on the whole machine (TestBench runs a short one)",
	"docker":    "needs a Docker engine, kustomize and a Kubernetes cluster",
	"backtest":  "shows a backtest of a history of its own: TestReadmeBacktest stores that history and runs it",
}

// readmePlaceholders stand for values a reader fills in: a command naming
// one may get an error answer.
var readmePlaceholders = []string{"NEXT_CURSOR", "EPISODE_ID", "SILENCE_ID"}

// readmeBlock is a fenced block of the README.
type readmeBlock struct {
	section string // the ## heading above it (its section, subsections included)
	heading string // the nearest heading above it
	lang    string
	skip    string // the name of a readme-test skip mark
	line    int    // of the opening fence
	body    string
}

func readmeFencedBlocks(t *testing.T) []readmeBlock {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var blocks []readmeBlock
	var cur *readmeBlock
	section, heading, skip := "", "", ""
	skipMark := regexp.MustCompile(`^<!-- readme-test: skip ([a-z-]+) -->$`)
	for i, line := range strings.Split(string(b), "\n") {
		switch {
		case cur != nil && line == "```":
			blocks = append(blocks, *cur)
			cur = nil
		case cur != nil:
			cur.body += line + "\n"
		case strings.HasPrefix(line, "```"):
			cur = &readmeBlock{section: section, heading: heading, lang: strings.TrimPrefix(line, "```"), skip: skip, line: i + 1}
			skip = ""
		case skipMark.MatchString(line):
			skip = skipMark.FindStringSubmatch(line)[1]
		case strings.HasPrefix(line, "#"):
			heading = strings.TrimSpace(strings.TrimLeft(line, "#"))
			if strings.HasPrefix(line, "## ") {
				section = heading
			}
		}
	}
	return blocks
}

// readmeCommand is one shell command of a block with the output the README
// shows for it.
type readmeCommand struct {
	text string
	want []string
	// loose: want lines may elide with …, and are matched line by line.
	loose bool
}

var heredoc = regexp.MustCompile(`<<-?'?([A-Za-z_]+)'?`)

// splitCommands cuts a shell block into commands: a command ends where the
// shell could run it (sh -n accepts it, and it does not end in \ or |).
// A comment right after a command that shows JSON is its output; in a
// block written as a terminal session ($ command, then its output), the
// lines after a command are its output.
func splitCommands(t *testing.T, body string) []readmeCommand {
	t.Helper()
	lines := strings.Split(strings.TrimRight(body, "\n"), "\n")
	var cmds []readmeCommand
	session := false
	for _, l := range lines {
		session = session || strings.HasPrefix(l, "$ ")
	}
	if session {
		for _, l := range lines {
			if c, ok := strings.CutPrefix(l, "$ "); ok {
				cmds = append(cmds, readmeCommand{text: c, loose: true})
			} else if len(cmds) > 0 {
				cmds[len(cmds)-1].want = append(cmds[len(cmds)-1].want, l)
			}
		}
		return cmds
	}
	acc := ""
	for _, l := range lines {
		trimmed := strings.TrimSpace(l)
		if acc == "" {
			if out, ok := strings.CutPrefix(trimmed, "# "); ok && len(cmds) > 0 && (strings.HasPrefix(out, "{") || strings.HasPrefix(out, "[")) {
				cmds[len(cmds)-1].want = append(cmds[len(cmds)-1].want, out)
				continue
			}
			if trimmed == "" || strings.HasPrefix(trimmed, "#") {
				continue
			}
		}
		acc += l + "\n"
		if strings.HasSuffix(trimmed, `\`) || strings.HasSuffix(trimmed, "|") {
			continue
		}
		if m := heredoc.FindStringSubmatch(acc); m != nil && !strings.Contains(acc, "\n"+m[1]+"\n") {
			continue // sh -n does not mind a heredoc without its end
		}
		if exec.Command("sh", "-n", "-c", acc).Run() != nil {
			continue // a quote, a heredoc or a brace still open
		}
		cmds = append(cmds, readmeCommand{text: strings.TrimRight(acc, "\n")})
		acc = ""
	}
	if acc != "" {
		t.Fatalf("the block ends inside a command:\n%s", acc)
	}
	return cmds
}

// TestReadmeRuns runs the README's shell examples as written, against
// `eventops dev` on the embedded broker and a private PostgreSQL, through
// sh with the freshly built eventops first on PATH. The one change made to
// them: localhost:8088 and localhost:9092 become the addresses the test
// instance chose (it listens on port 0). Blocks marked
// `<!-- readme-test: skip NAME -->` are skipped for the reason
// readmeSkips gives; a command naming a placeholder may answer an error;
// a `curl -N` stream is read until it has sent something.
func TestReadmeRuns(t *testing.T) {
	t.Parallel()
	for _, tool := range []string{"sh", "curl", "kcat", "psql", "date"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("the README's examples need %s: %v", tool, err)
		}
	}
	// The private PostgreSQL runs as the postgres user when the test runs
	// as root: its directory must be reachable, which t.TempDir is not.
	work, err := os.MkdirTemp("", "eventops-readme-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(work) })
	if err := os.Chmod(work, 0o755); err != nil {
		t.Fatal(err)
	}
	dev := startEventops(t, []string{"DATABASE_URL="}, "dev", "--data-dir", filepath.Join(work, ".eventops"),
		"--kafka-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0")
	// A clean stop, which stops its private PostgreSQL too (a kill would
	// leave it running).
	t.Cleanup(func() { dev.stop(30 * time.Second) })
	httpAddr := strings.TrimPrefix(dev.HTTP, "http://")
	substitute := strings.NewReplacer("localhost:8088", httpAddr, "localhost:9092", dev.Kafka[0])

	// The banner, once ready, names the database the README's psql uses.
	url, err := os.ReadFile(filepath.Join(work, ".eventops", "postgres", "url"))
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, patience(30*time.Second), "the ready banner", func() error {
		if log := dev.Log(); !strings.Contains(log, "EventOps dev is ready.") || !strings.Contains(log, "DATABASE_URL="+strings.TrimSpace(string(url))) {
			return errors.New("no banner with the DATABASE_URL yet")
		}
		return nil
	})

	blocks := readmeFencedBlocks(t)
	// Examples saved under the name their first line gives (# NAME.yml).
	for _, b := range blocks {
		if name, ok := strings.CutPrefix(strings.SplitN(b.body, "\n", 2)[0], "# "); ok && b.lang == "yaml" && strings.HasSuffix(name, ".yml") {
			if err := os.WriteFile(filepath.Join(work, name), []byte(b.body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	env := append(os.Environ(), "PATH="+filepath.Dir(eventopsBinary(t))+string(os.PathListSeparator)+os.Getenv("PATH"), "DATABASE_URL=")
	prelude := "set -e\n"
	ran := 0
	for _, b := range blocks {
		if b.lang != "sh" {
			continue
		}
		where := fmt.Sprintf("README.md:%d (%s)", b.line, b.heading)
		if b.skip != "" {
			reason, ok := readmeSkips[b.skip]
			if !ok {
				t.Errorf("%s: unknown skip mark %q", where, b.skip)
				continue
			}
			t.Logf("%s: not run: %s", where, reason)
			continue
		}
		for _, c := range splitCommands(t, b.body) {
			if strings.Contains(c.text, "…") {
				t.Logf("%s: not run (its arguments are elided): %s", where, c.text)
				continue
			}
			text := substitute.Replace(c.text)
			out, errOut, err := runReadmeCommand(t, work, env, prelude+text)
			ran++
			if strings.HasPrefix(c.text, "export ") {
				prelude += text + "\n"
			}
			if err != nil {
				t.Errorf("%s: %s\n%v\n%s%s", where, c.text, err, out, errOut)
				continue
			}
			if msg := readmeOutputProblem(c, out); msg != "" {
				t.Errorf("%s: %s\n%s\n%s", where, c.text, msg, errOut)
			}
		}
	}
	if ran < 30 {
		t.Fatalf("ran %d commands of the README", ran)
	}
	// Errors of the pipeline, that is; the API logs the answers it refused.
	for _, l := range strings.Split(dev.Log(), "\n") {
		if strings.Contains(l, "level=ERROR") && !strings.Contains(l, `msg="request failed"`) {
			t.Errorf("dev logged an error while the README ran: %s", l)
		}
	}
}

// runReadmeCommand runs script with sh in dir and returns its stdout and
// stderr. A `curl -N` stream is ended once it has sent an event or its
// retry line.
func runReadmeCommand(t *testing.T, dir string, env []string, script string) (string, string, error) {
	t.Helper()
	stream := strings.Contains(script, "curl -N")
	timeout := patience(90 * time.Second)
	if stream {
		timeout = patience(5 * time.Second)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", "-c", script)
	cmd.Dir, cmd.Env = dir, env
	cmd.WaitDelay = time.Second
	// sh and what it started (curl) end together.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	var out, errOut strings.Builder
	cmd.Stderr = &errOut
	if !stream {
		cmd.Stdout = &out
		err := cmd.Run()
		return out.String(), errOut.String(), err
	}
	// A stream: read until it has sent its retry line or an event, then end it.
	pipe, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		return "", "", err
	}
	sc := bufio.NewScanner(pipe)
	started := false
	for !started && sc.Scan() {
		out.WriteString(sc.Text() + "\n")
		started = strings.HasPrefix(sc.Text(), "retry:") || strings.HasPrefix(sc.Text(), "event:")
	}
	cancel()
	_ = cmd.Wait()
	if !started {
		return out.String(), errOut.String(), errors.New("the stream sent nothing")
	}
	return out.String(), errOut.String(), nil
}

// elided matches a word of the README that shows only the start of a
// value (eok_3q0w…, sha256:5be8…91d0): its prefix up to a _ or :, then
// anything.
func elided(want string) *regexp.Regexp {
	words := strings.Split(want, " ")
	for i, w := range words {
		if !strings.Contains(w, "…") {
			words[i] = regexp.QuoteMeta(w)
			continue
		}
		head := w[:strings.Index(w, "…")]
		head = head[:strings.LastIndexAny(head, "_:")+1]
		words[i] = regexp.QuoteMeta(head) + `\S+`
	}
	return regexp.MustCompile("^" + strings.Join(words, " ") + "$")
}

// readmeOutputProblem compares a command's output with what the README
// shows, and refuses an error answer of the API to a command that names no
// placeholder.
func readmeOutputProblem(c readmeCommand, out string) string {
	got := strings.Split(strings.TrimRight(out, "\n"), "\n")
	switch {
	case c.loose && len(c.want) > 0:
		if len(got) != len(c.want) {
			return fmt.Sprintf("printed %d lines, the README shows %d:\n%s", len(got), len(c.want), out)
		}
		for i, w := range c.want {
			if !elided(w).MatchString(got[i]) {
				return fmt.Sprintf("line %d is %q, the README shows %q", i+1, got[i], w)
			}
		}
	case len(c.want) > 0:
		if strings.Join(got, "\n") != strings.Join(c.want, "\n") {
			return fmt.Sprintf("printed:\n%s\nthe README shows:\n%s", out, strings.Join(c.want, "\n"))
		}
	}
	for _, p := range readmePlaceholders {
		if strings.Contains(c.text, p) {
			return ""
		}
	}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var problem struct {
			Status int    `json:"status"`
			Title  string `json:"title"`
		}
		if json.Unmarshal(sc.Bytes(), &problem) == nil && problem.Status >= 400 && problem.Title != "" {
			return "answered an error:\n" + out
		}
	}
	return ""
}
