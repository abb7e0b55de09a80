package deploy

import (
	"context"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// problems collects what a check found wrong, one sentence each.
type problems []string

func (p *problems) add(format string, args ...any) { *p = append(*p, fmt.Sprintf(format, args...)) }

// mutation breaks a deploy file on purpose: the check must then report a
// problem that mentions want.
type mutation struct{ name, old, new, want string }

func (m mutation) apply(t *testing.T, text string) string {
	t.Helper()
	if !strings.Contains(text, m.old) {
		t.Fatalf("mutation %q: %q is not in the file any more; update the case", m.name, m.old)
	}
	return strings.Replace(text, m.old, m.new, 1)
}

// mentions reports whether one of the problems contains want.
func mentions(p []string, want string) bool {
	return slices.ContainsFunc(p, func(s string) bool { return strings.Contains(s, want) })
}

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func readRepoFile(t *testing.T, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), rel))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// goModGo is the go line of go.mod: the least Go the build stage may use.
func goModGo(t *testing.T) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^go (\S+)$`).FindStringSubmatch(readRepoFile(t, "go.mod"))
	if m == nil {
		t.Fatal("go.mod has no go line")
	}
	return m[1]
}

// eventops is the binary built the way deploy/Dockerfile builds it, and
// what its --help says: the commands and, per command, the flags with
// their environment variables and defaults. The deploy files are checked
// against it, not against a list kept here.
type eventops struct {
	path     string
	commands []string
	flags    map[string]map[string]flagInfo // command → flag name → info
}

type flagInfo struct {
	env, def, usage string // env is empty for a command's own flags (not settings)
}

var (
	buildOnce sync.Once
	built     *eventops
	buildErr  error
	buildDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// eventopsBinary builds the binary once for the package's tests, with the
// Dockerfile's own go build line.
func eventopsBinary(t *testing.T) *eventops {
	t.Helper()
	buildOnce.Do(func() {
		root, err := filepath.Abs("..")
		if err != nil {
			buildErr = err
			return
		}
		text, err := os.ReadFile(filepath.Join(root, "deploy", "Dockerfile"))
		if err != nil {
			buildErr = err
			return
		}
		if buildDir, err = os.MkdirTemp("", "eventops-deploy-"); err != nil {
			buildErr = err
			return
		}
		bin, err := buildLikeDockerfile(root, string(text), buildDir)
		if err != nil {
			buildErr = err
			return
		}
		built, buildErr = describe(bin)
	})
	if buildErr != nil {
		t.Fatalf("building eventops as deploy/Dockerfile does: %v", buildErr)
	}
	return built
}

var (
	commandLine = regexp.MustCompile(`^  ([a-z][a-z0-9-]*)\s+\S`)
	flagLine    = regexp.MustCompile(`^  -([a-z0-9][a-z0-9-]*)(?: \S+)?$`)
	envOf       = regexp.MustCompile(`\(env (EVENTOPS_[A-Z0-9_]+)\)`)
	defaultOf   = regexp.MustCompile(`\(default ([^()]*)\)\s*$`)
)

// describe reads the binary's --help and every command's --help.
func describe(bin string) (*eventops, error) {
	e := &eventops{path: bin, flags: map[string]map[string]flagInfo{}}
	out, err := exec.Command(bin, "--help").CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("eventops --help: %v\n%s", err, out)
	}
	_, list, ok := strings.Cut(string(out), "commands:\n")
	if !ok {
		return nil, fmt.Errorf("eventops --help lists no commands:\n%s", out)
	}
	for line := range strings.Lines(list) {
		if m := commandLine.FindStringSubmatch(line); m != nil {
			e.commands = append(e.commands, m[1])
		}
	}
	for _, c := range e.commands {
		out, err := exec.Command(bin, c, "--help").CombinedOutput()
		if err != nil {
			return nil, fmt.Errorf("eventops %s --help: %v\n%s", c, err, out)
		}
		flags := map[string]flagInfo{}
		var cur string
		var usage strings.Builder
		end := func() {
			if cur == "" {
				return
			}
			u := strings.Join(strings.Fields(usage.String()), " ")
			fi := flagInfo{usage: u}
			if m := envOf.FindStringSubmatch(u); m != nil {
				fi.env = m[1]
			}
			if m := defaultOf.FindStringSubmatch(u); m != nil {
				fi.def = m[1]
			}
			flags[cur] = fi
			cur = ""
			usage.Reset()
		}
		for line := range strings.Lines(string(out)) {
			line = strings.TrimRight(line, "\n")
			if m := flagLine.FindStringSubmatch(line); m != nil {
				end()
				cur = m[1]
			} else if cur != "" && strings.HasPrefix(line, "    \t") {
				usage.WriteString(" " + line)
			} else {
				end()
			}
		}
		end()
		e.flags[c] = flags
	}
	if len(e.commands) < 5 || len(e.flags["run"]) < 10 {
		return nil, fmt.Errorf("eventops --help: read %d commands and %d flags of run; has the help's format changed?", len(e.commands), len(e.flags["run"]))
	}
	return e, nil
}

// knownStages are the stages `eventops run --help` lists.
func (e *eventops) knownStages() []string {
	m := regexp.MustCompile(`runs: ([a-z, ]+)`).FindStringSubmatch(e.flags["run"]["stages"].usage)
	if m == nil {
		return nil
	}
	return strings.Split(strings.ReplaceAll(m[1], " ", ""), ",")
}

// parseArgs splits a command line after the binary: the command, its
// flags (--name value or --name=value; every flag eventops has takes a
// value) and what is left.
func (e *eventops) parseArgs(where string, args []string) (cmd string, flags map[string]string, p problems) {
	if len(args) == 0 {
		p.add("%s: no eventops command", where)
		return "", nil, p
	}
	cmd, flags = args[0], map[string]string{}
	known, ok := e.flags[cmd]
	if !ok {
		p.add("%s: eventops has no command %q (it has %s)", where, cmd, strings.Join(e.commands, ", "))
		return cmd, nil, p
	}
	for i := 1; i < len(args); i++ {
		a := args[i]
		name, ok := strings.CutPrefix(a, "--")
		if !ok {
			name, ok = strings.CutPrefix(a, "-")
		}
		if !ok {
			p.add("%s: eventops %s: unexpected argument %q", where, cmd, a)
			continue
		}
		name, val, hasVal := strings.Cut(name, "=")
		if _, ok := known[name]; !ok {
			p.add("%s: eventops %s has no flag --%s", where, cmd, name)
			continue
		}
		if !hasVal {
			if i+1 >= len(args) {
				p.add("%s: eventops %s --%s has no value", where, cmd, name)
				continue
			}
			i++
			val = args[i]
		}
		flags[name] = val
	}
	return cmd, flags, p
}

// checkArgs checks a command line (command first) against the binary.
func (e *eventops) checkArgs(where string, args []string) []string {
	_, _, p := e.parseArgs(where, args)
	return p
}

// invocation is one eventops process a deploy file starts.
type invocation struct {
	where string
	args  []string          // the command and its flags
	image map[string]string // the image's ENV
	env   map[string]string // the container's own environment (wins over the image's)
	// configName and config are the --config / EVENTOPS_CONFIG file, when
	// there is one, as the deploy file provides it.
	configName string
	config     []byte
}

// envAliases are the other variables a setting is read from (config.go's
// env tags; the help names only the first).
var envAliases = map[string]string{"database_url": "DATABASE_URL"}

// settings returns every setting the process ends up with, by key, with the
// binary's precedence: flags, then the environment, then the config file,
// then the defaults. It reports flags, variables and file keys the command
// does not read, and file keys that the environment or a flag overrides
// (silently, at run time).
func (e *eventops) settings(inv invocation) (string, map[string]string, []string) {
	cmd, flags, p := e.parseArgs(inv.where, inv.args)
	if flags == nil {
		return cmd, nil, p
	}
	known := e.flags[cmd]
	byEnv := map[string]string{}
	for name, fi := range known {
		if fi.env != "" {
			byEnv[fi.env] = name
		}
	}
	for k := range inv.env {
		if strings.HasPrefix(k, "EVENTOPS_") && byEnv[k] == "" {
			p.add("%s: eventops %s reads no %s", inv.where, cmd, k)
		}
	}
	env := maps.Clone(inv.image)
	maps.Copy(env, inv.env)
	var file map[string]string
	if inv.config != nil {
		var err error
		if file, err = settingsFile(inv.config); err != nil {
			p.add("%s: %s: %v", inv.where, inv.configName, err)
		}
	}
	set := map[string]string{}
	for name, fi := range known {
		if fi.env == "" {
			continue // the command's own flag, not a setting
		}
		key := strings.ReplaceAll(name, "-", "_")
		v, from := fi.def, ""
		if fv, ok := file[key]; ok {
			v, from = fv, "file"
		}
		envName := fi.env
		ev, ok := env[envName]
		if !ok && envAliases[key] != "" {
			envName = envAliases[key]
			ev, ok = env[envName]
		}
		if ok {
			if from == "file" {
				p.add("%s: %s sets %s, but %s in the environment wins over it", inv.where, inv.configName, key, envName)
			}
			v, from = ev, "env"
		}
		if fv, ok := flags[name]; ok {
			if from == "file" {
				p.add("%s: %s sets %s, but the flag --%s wins over it", inv.where, inv.configName, key, name)
			}
			v = fv
		}
		set[key] = v
	}
	for key := range file {
		if _, ok := known[strings.ReplaceAll(key, "_", "-")]; !ok && cmd == "run" {
			p.add("%s: %s sets %s, which eventops run does not read", inv.where, inv.configName, key)
		}
	}
	return cmd, set, p
}

// settingsFile reads a --config file's keys as the flags would see them.
func settingsFile(b []byte) (map[string]string, error) {
	var raw map[string]yaml.Node
	if err := yaml.Unmarshal(b, &raw); err != nil {
		return nil, err
	}
	out := map[string]string{}
	for k, n := range raw {
		if n.Kind == yaml.SequenceNode {
			var l []string
			if err := n.Decode(&l); err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			out[k] = strings.Join(l, ",")
			continue
		}
		out[k] = n.Value
	}
	return out, nil
}

// accepts runs the process's own configuration loading and validation: the
// binary started with the invocation's flags, environment and config file,
// but without a database URL, must get as far as asking for one. Any
// setting it refuses (a bad duration, an unknown stage, a key of the file it
// does not know, a heartbeat longer than the session, ...) fails it. Only
// run and migrate stop there before touching the network.
func (e *eventops) accepts(inv invocation) []string {
	cmd := ""
	if len(inv.args) > 0 {
		cmd = inv.args[0]
	}
	if cmd != "run" && cmd != "migrate" {
		return nil
	}
	dir, err := os.MkdirTemp("", "eventops-accept-")
	if err != nil {
		return []string{err.Error()}
	}
	defer os.RemoveAll(dir)
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}
	all := maps.Clone(inv.image)
	maps.Copy(all, inv.env)
	for k, v := range all {
		if k == "EVENTOPS_DATABASE_URL" || k == "DATABASE_URL" || k == "EVENTOPS_CONFIG" {
			continue
		}
		env = append(env, k+"="+v)
	}
	args := slices.Clone(inv.args)
	if inv.config != nil {
		f := filepath.Join(dir, "config.yaml")
		if err := os.WriteFile(f, inv.config, 0o600); err != nil {
			return []string{err.Error()}
		}
		env = append(env, "EVENTOPS_CONFIG="+f)
		for i := range args {
			if args[i] == "--config" && i+1 < len(args) {
				args[i+1] = f
			}
		}
	}
	if cmd == "run" {
		// Nothing is written under the deploy file's data_dir here.
		args = append(args, "--data-dir", filepath.Join(dir, "data"))
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := exec.CommandContext(ctx, e.path, args...)
	c.Env = env
	out, _ := c.CombinedOutput()
	if !strings.Contains(string(out), "--database-url (or DATABASE_URL) is required") {
		return []string{fmt.Sprintf("%s: eventops refuses the configuration (started without a database URL it should get as far as asking for one):\n%s",
			inv.where, strings.TrimSpace(string(out)))}
	}
	return nil
}

// stagesOf is a run's stages setting as a list.
func stagesOf(set map[string]string) []string {
	var out []string
	for s := range strings.SplitSeq(set["stages"], ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// drainBound is the longest a stop of `eventops run` takes: the stages stop
// (the API's shutdown and the per-partition flushes, each bounded by
// shutdown_timeout), then the PostgreSQL writers drain (shutdown_timeout),
// then the producers flush (shutdown_timeout), in replica/shutdown.go.
// A grace period shorter than this lets the orchestrator kill a replica
// in the middle of its drain.
func drainBound(shutdown string) (time.Duration, error) {
	d, err := time.ParseDuration(shutdown)
	return 3*d + 5*time.Second, err
}
