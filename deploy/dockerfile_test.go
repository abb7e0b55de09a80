package deploy

import (
	"bufio"
	"debug/elf"
	"encoding/json"
	"errors"
	"fmt"
	"go/version"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// dockerInstr is one instruction of a Dockerfile, continuation lines joined.
type dockerInstr struct {
	line int
	cmd  string // upper case: FROM, RUN, ...
	// flags are the --name=value options before the arguments (RUN --mount,
	// COPY --from, FROM --platform, HEALTHCHECK --interval).
	flags []string
	args  string
}

// exec returns the arguments of the exec (JSON) form, or nil.
func (in dockerInstr) exec() []string {
	var list []string
	if json.Unmarshal([]byte(in.args), &list) != nil {
		return nil
	}
	return list
}

func (in dockerInstr) flag(name string) (string, bool) {
	for _, f := range in.flags {
		if v, ok := strings.CutPrefix(f, "--"+name+"="); ok {
			return v, true
		}
	}
	return "", false
}

type dockerStage struct {
	from, name string
	line       int
	instrs     []dockerInstr
}

type dockerfile struct {
	stages []dockerStage
}

func (d dockerfile) stage(name string) (dockerStage, bool) {
	for _, s := range d.stages {
		if s.name == name {
			return s, true
		}
	}
	return dockerStage{}, false
}

// parseDockerfile reads the subset of the Dockerfile syntax deploy/Dockerfile
// uses: comments, line continuations, options before arguments, shell and
// exec forms. Heredocs and escape directives are refused.
func parseDockerfile(text string) (dockerfile, error) {
	known := map[string]bool{"FROM": true, "RUN": true, "COPY": true, "WORKDIR": true, "ARG": true, "ENV": true,
		"USER": true, "EXPOSE": true, "HEALTHCHECK": true, "ENTRYPOINT": true, "CMD": true, "LABEL": true}
	var d dockerfile
	sc := bufio.NewScanner(strings.NewReader(text))
	var cur strings.Builder
	start, n := 0, 0
	flush := func() error {
		s := strings.TrimSpace(cur.String())
		cur.Reset()
		if s == "" {
			return nil
		}
		word, rest, _ := strings.Cut(s, " ")
		in := dockerInstr{line: start, cmd: strings.ToUpper(word)}
		if !known[in.cmd] {
			return fmt.Errorf("line %d: instruction %q is not one these tests read", start, word)
		}
		rest = strings.TrimSpace(rest)
		for strings.HasPrefix(rest, "--") {
			f, r, _ := strings.Cut(rest, " ")
			in.flags = append(in.flags, f)
			rest = strings.TrimSpace(r)
		}
		if strings.Contains(rest, "<<") {
			return fmt.Errorf("line %d: heredocs are not read by these tests", start)
		}
		in.args = rest
		if in.cmd == "FROM" {
			f := strings.Fields(rest)
			st := dockerStage{from: f[0], line: start}
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				st.name = f[2]
			} else if len(f) != 1 {
				return fmt.Errorf("line %d: FROM %q", start, rest)
			}
			d.stages = append(d.stages, st)
		}
		if len(d.stages) == 0 {
			if in.cmd != "ARG" {
				return fmt.Errorf("line %d: %s before FROM", start, in.cmd)
			}
			return nil
		}
		st := &d.stages[len(d.stages)-1]
		st.instrs = append(st.instrs, in)
		return nil
	}
	for sc.Scan() {
		n++
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") && cur.Len() == 0 {
			if strings.HasPrefix(trimmed, "# escape") {
				return d, fmt.Errorf("line %d: escape directives are not read by these tests", n)
			}
			continue
		}
		if strings.HasPrefix(trimmed, "#") {
			continue // a comment inside a continued instruction
		}
		if cur.Len() == 0 {
			start = n
		}
		if s, ok := strings.CutSuffix(strings.TrimRight(line, " \t"), `\`); ok {
			cur.WriteString(s + " ")
			continue
		}
		cur.WriteString(line)
		if err := flush(); err != nil {
			return d, err
		}
	}
	if err := flush(); err != nil {
		return d, err
	}
	return d, sc.Err()
}

// keyValues reads `K=V K2="V 2"` (ENV, LABEL) and the legacy `K V` form.
func keyValues(s string) map[string]string {
	out := map[string]string{}
	if !strings.Contains(strings.Fields(s)[0], "=") {
		k, v, _ := strings.Cut(s, " ")
		out[k] = strings.TrimSpace(v)
		return out
	}
	for _, w := range shellWords(s) {
		k, v, _ := strings.Cut(w, "=")
		out[k] = v
	}
	return out
}

// shellWords splits s as a POSIX shell would split words, without
// expansions: quotes group and are removed, backslash escapes.
func shellWords(s string) []string {
	var words []string
	var w strings.Builder
	inWord := false
	var quote rune
	rs := []rune(s)
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			} else if r == '\\' && quote == '"' && i+1 < len(rs) {
				i++
				w.WriteRune(rs[i])
			} else {
				w.WriteRune(r)
			}
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == '\\' && i+1 < len(rs):
			i++
			w.WriteRune(rs[i])
			inWord = true
		case r == ' ' || r == '\t' || r == '\n':
			if inWord {
				words = append(words, w.String())
				w.Reset()
				inWord = false
			}
		default:
			w.WriteRune(r)
			inWord = true
		}
	}
	if inWord {
		words = append(words, w.String())
	}
	return words
}

// goBuild is the `go build` RUN of the Dockerfile's build stage, with what
// it needs to run the same way outside Docker.
type goBuild struct {
	script string            // the RUN's shell text
	output string            // its -o path
	env    map[string]string // ENV of the stage before it
	args   map[string]string // ARG of the stage before it, with defaults
	dir    string            // WORKDIR
	copies []string          // COPY sources before it
}

// buildStage finds the stage the final image copies the binary from and its
// go build.
func (d dockerfile) goBuild() (goBuild, dockerStage, error) {
	final := d.stages[len(d.stages)-1]
	var from string
	for _, in := range final.instrs {
		if f, ok := in.flag("from"); ok && in.cmd == "COPY" {
			from = f
			break
		}
	}
	st, ok := d.stage(from)
	if !ok {
		return goBuild{}, st, fmt.Errorf("the final stage copies from no named build stage (COPY --from=%q)", from)
	}
	b := goBuild{env: map[string]string{}, args: map[string]string{}}
	for _, in := range st.instrs {
		switch in.cmd {
		case "WORKDIR":
			b.dir = in.args
		case "COPY":
			f := shellWords(in.args)
			b.copies = append(b.copies, f[:len(f)-1]...)
		case "ENV":
			for k, v := range keyValues(in.args) {
				b.env[k] = v
			}
		case "ARG":
			for _, w := range shellWords(in.args) {
				k, v, _ := strings.Cut(w, "=")
				b.args[k] = v
			}
		case "RUN":
			if !strings.Contains(in.args, "go build") {
				continue
			}
			if b.script != "" {
				return b, st, errors.New("the build stage runs go build twice")
			}
			b.script = in.args
			m := regexp.MustCompile(`(?:^|\s)-o\s+(\S+)`).FindStringSubmatch(in.args)
			if m == nil {
				return b, st, errors.New("the go build names no -o output")
			}
			b.output = m[1]
		}
	}
	if b.script == "" {
		return b, st, fmt.Errorf("stage %s runs no go build", st.name)
	}
	return b, st, nil
}

const (
	// imageBinary is where the image keeps the binary, and its entrypoint.
	imageBinary = "/eventops"
	// buildVersion is the VERSION build argument the test builds with.
	buildVersion = "v0.0.0-deploy-test"
)

// checkDockerfile checks deploy/Dockerfile's text: what a static, non-root,
// self-checking image needs. The build is reproduced by TestDockerfileBuild.
func checkDockerfile(text, goModGo string, e *eventops) []string {
	var p problems
	d, err := parseDockerfile(text)
	if err != nil {
		return []string{err.Error()}
	}
	if len(d.stages) < 2 {
		return []string{"want a multi-stage Dockerfile: a build stage and a runtime stage"}
	}
	b, st, err := d.goBuild()
	if err != nil {
		return []string{err.Error()}
	}
	// The builder's Go must be at least go.mod's go line.
	img, tag, _ := strings.Cut(st.from, ":")
	goVer, _, _ := strings.Cut(tag, "-")
	if img != "golang" || version.Compare("go"+goVer, "go"+goModGo) < 0 {
		p.add("build stage FROM %s: want golang:%s or newer (go.mod says go %s)", st.from, goModGo, goModGo)
	}
	words := shellWords(b.script)
	cgo := b.env["CGO_ENABLED"]
	for _, w := range words {
		if v, ok := strings.CutPrefix(w, "CGO_ENABLED="); ok {
			cgo = v
		}
	}
	if cgo != "0" {
		p.add("the go build runs with CGO_ENABLED=%q: want 0 (a static binary)", cgo)
	}
	if !slices.Contains(words, "-trimpath") {
		p.add("the go build has no -trimpath")
	}
	ld := ""
	for i, w := range words {
		if w == "-ldflags" && i+1 < len(words) {
			ld = words[i+1]
		} else if v, ok := strings.CutPrefix(w, "-ldflags="); ok {
			ld = v
		}
	}
	if m := regexp.MustCompile(`-X main\.version=\$\{?([A-Z_]+)\}?`).FindStringSubmatch(ld); m == nil {
		p.add("the go build's -ldflags %q do not set -X main.version from a build argument", ld)
	} else if _, ok := b.args[m[1]]; !ok {
		p.add("-X main.version=$%s: %s is not an ARG of the build stage", m[1], m[1])
	}
	if !slices.Contains(words, "./cmd/eventops") {
		p.add("the go build does not build ./cmd/eventops")
	}
	if b.dir == "" || !slices.Contains(b.copies, ".") {
		p.add("the build stage does not COPY . into a WORKDIR before the build (the test builds in the repository root)")
	}

	final := d.stages[len(d.stages)-1]
	base := final.from
	if !(strings.HasPrefix(base, "gcr.io/distroless/static") && strings.HasSuffix(base, ":nonroot")) && base != "scratch" {
		p.add("runtime FROM %s: want gcr.io/distroless/static…:nonroot or scratch", base)
	}
	var user, entry []string
	var health dockerInstr
	var exposed []string
	env := map[string]string{}
	copied := map[string]string{} // destination → --chown
	for _, in := range final.instrs {
		switch in.cmd {
		case "USER":
			user = append(user, in.args)
		case "ENTRYPOINT":
			entry = in.exec()
			if entry == nil {
				p.add("line %d: ENTRYPOINT %s: want the exec form (no shell in the image)", in.line, in.args)
			}
		case "HEALTHCHECK":
			health = in
		case "EXPOSE":
			exposed = append(exposed, strings.Fields(in.args)...)
		case "ENV":
			for k, v := range keyValues(in.args) {
				env[k] = v
			}
		case "COPY":
			f := shellWords(in.args)
			chown, _ := in.flag("chown")
			if from, _ := in.flag("from"); from == st.name && len(f) == 2 && f[0] == b.output {
				copied[f[1]+"#binary"] = chown
			}
			copied[f[len(f)-1]] = chown
		}
	}
	if len(user) == 0 {
		p.add("the runtime stage sets no USER")
	} else if u := user[len(user)-1]; !nonRootUser(u) {
		p.add("runtime USER %s: want a non-root user (numeric, so that Kubernetes can verify runAsNonRoot)", u)
	}
	if !slices.Equal(entry, []string{imageBinary}) {
		p.add("ENTRYPOINT %q: want [%q]", entry, imageBinary)
	}
	if _, ok := copied[imageBinary+"#binary"]; !ok {
		p.add("the runtime stage does not COPY --from=%s %s %s", st.name, b.output, imageBinary)
	}
	// The HEALTHCHECK runs the binary itself: there is no shell or curl.
	if health.cmd == "" {
		p.add("no HEALTHCHECK")
	} else {
		rest, ok := strings.CutPrefix(health.args, "CMD ")
		var hc []string
		if ok {
			hc = dockerInstr{args: strings.TrimSpace(rest)}.exec()
		}
		if len(hc) < 2 || hc[0] != imageBinary || hc[1] != "healthcheck" {
			p.add("HEALTHCHECK %s: want CMD [%q, \"healthcheck\", …] in exec form", health.args, imageBinary)
		} else if e != nil {
			p = append(p, e.checkArgs("the HEALTHCHECK", hc[1:])...)
		}
	}
	// EXPOSE the port the binary listens on by default.
	if e != nil {
		_, port, _ := strings.Cut(e.flags["run"]["http-addr"].def, ":")
		if !slices.Contains(exposed, port) && !slices.Contains(exposed, port+"/tcp") {
			p.add("EXPOSE %q: want %s, the port of http_addr's default %s", exposed, port, e.flags["run"]["http-addr"].def)
		}
	}
	// The data directory exists in the image, owned by the runtime user, so
	// a fresh volume mounted on it is writable.
	if dir := env["EVENTOPS_DATA_DIR"]; dir == "" {
		p.add("the runtime stage sets no EVENTOPS_DATA_DIR (the default ./.eventops is relative to /, not writable)")
	} else if chown, ok := copied[dir]; !ok || len(user) == 0 || !sameOwner(chown, user[len(user)-1]) {
		p.add("EVENTOPS_DATA_DIR=%s is not created in the image owned by the runtime user (COPY --chown=%s … %s)", dir, strings.Join(user, ""), dir)
	}
	return p
}

func nonRootUser(u string) bool {
	name, group, _ := strings.Cut(u, ":")
	uid, err := strconv.Atoi(name)
	if err != nil || uid == 0 {
		return false
	}
	if group != "" {
		gid, err := strconv.Atoi(group)
		return err == nil && gid != 0
	}
	return true
}

func sameOwner(chown, user string) bool {
	return chown == user || strings.Split(chown, ":")[0] == strings.Split(user, ":")[0]
}

// buildLikeDockerfile runs the build stage's go build line as the Dockerfile
// writes it: in the repository root (the stage's WORKDIR after COPY . .),
// with the stage's ENV and ARGs (VERSION=buildVersion, the target platform
// of this machine) in the environment, writing to dir instead of -o's path.
func buildLikeDockerfile(root, text, dir string) (string, error) {
	d, err := parseDockerfile(text)
	if err != nil {
		return "", err
	}
	b, _, err := d.goBuild()
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, path.Base(b.output))
	script := regexp.MustCompile(`(^|\s)-o\s+`+regexp.QuoteMeta(b.output)+`(\s|$)`).
		ReplaceAllString(b.script, "${1}-o "+out+"${2}")
	env := os.Environ()
	given := map[string]string{"VERSION": buildVersion, "TARGETOS": "linux", "TARGETARCH": runtime.GOARCH}
	for k, def := range b.args {
		v, ok := given[k]
		if !ok {
			v = def
		}
		env = append(env, k+"="+v)
	}
	for k, v := range b.env {
		env = append(env, k+"="+v)
	}
	cmd := exec.Command("sh", "-c", script)
	cmd.Dir, cmd.Env = root, env
	if o, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("%s: %w\n%s", script, err, o)
	}
	return out, nil
}

// checkStaticELF proves a binary needs no loader and no shared library.
func checkStaticELF(file string) []string {
	var p problems
	f, err := elf.Open(file)
	if err != nil {
		return []string{fmt.Sprintf("%s: %v", file, err)}
	}
	defer f.Close()
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP {
			p.add("%s has a PT_INTERP program header: it is dynamically linked", file)
		}
		if prog.Type == elf.PT_DYNAMIC {
			p.add("%s has a PT_DYNAMIC program header", file)
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		p.add("%s needs shared libraries %q", file, libs)
	}
	if f.Machine != elfMachine() {
		p.add("%s is for %s, want %s", file, f.Machine, elfMachine())
	}
	return p
}

func elfMachine() elf.Machine {
	switch runtime.GOARCH {
	case "arm64":
		return elf.EM_AARCH64
	default:
		return elf.EM_X86_64
	}
}

// The Dockerfile's own go build line, run here, gives a static binary that
// says its version: what the image's build stage produces.
func TestDockerfileBuild(t *testing.T) {
	e := eventopsBinary(t)
	if p := checkStaticELF(e.path); len(p) > 0 {
		t.Error(strings.Join(p, "\n"))
	}
	out, err := exec.Command(e.path, "version").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "eventops "+buildVersion {
		t.Errorf("%s version: %q, %v; want %q (the VERSION build argument through -ldflags)", e.path, out, err, "eventops "+buildVersion)
	}
	// The check sees a dynamic binary for what it is.
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Fatal(err)
	}
	sh, _ = filepath.EvalSymlinks(sh)
	if p := checkStaticELF(sh); !mentions(p, "PT_INTERP") {
		t.Errorf("checkStaticELF(%s) = %q, want a PT_INTERP problem", sh, p)
	}
}

func TestDockerfile(t *testing.T) {
	e := eventopsBinary(t)
	text := readRepoFile(t, "deploy/Dockerfile")
	if p := checkDockerfile(text, goModGo(t), e); len(p) > 0 {
		t.Errorf("deploy/Dockerfile:\n  %s", strings.Join(p, "\n  "))
	}
	mutations := []mutation{
		{"dynamic binary", "ENV CGO_ENABLED=0", "ENV CGO_ENABLED=1", "CGO_ENABLED=\"1\""},
		{"no trimpath", "go build -trimpath", "go build", "no -trimpath"},
		{"no version", "-X main.version=$VERSION", "-X main.commit=$VERSION", "do not set -X main.version"},
		{"version not an ARG", "ARG VERSION=dev", "ARG REVISION=dev", "VERSION is not an ARG"},
		{"old Go", "golang:1.26.8 AS build", "golang:1.22 AS build", "want golang:"},
		{"root user", "USER 65532:65532", "USER root", "want a non-root user"},
		{"uid 0", "USER 65532:65532", "USER 0:0", "want a non-root user"},
		{"curl health check", `CMD ["/eventops", "healthcheck"]`, `CMD curl -f http://localhost:8088/readyz`, "HEALTHCHECK"},
		{"health check flag", `CMD ["/eventops", "healthcheck"]`, `CMD ["/eventops", "healthcheck", "--uri", "x"]`, "--uri"},
		{"wrong port", "EXPOSE 8088", "EXPOSE 8080", "want 8088"},
		{"shell entrypoint", `ENTRYPOINT ["/eventops"]`, `ENTRYPOINT /eventops`, "exec form"},
		{"fat runtime", "FROM gcr.io/distroless/static-debian12:nonroot", "FROM debian:bookworm", "want gcr.io/distroless"},
		{"root-owned data dir", "COPY --from=build --chown=65532:65532 /out/data", "COPY --from=build /out/data", "not created in the image owned"},
		{"binary not copied", "COPY --from=build /out/eventops /eventops", "COPY --from=build /out/eventops /usr/bin/eventops", "does not COPY --from=build /out/eventops /eventops"},
		{"single stage", "FROM gcr.io/distroless/static-debian12:nonroot\n", "", "multi-stage"},
	}
	for _, m := range mutations {
		t.Run(m.name, func(t *testing.T) {
			p := checkDockerfile(m.apply(t, text), goModGo(t), e)
			if !mentions(p, m.want) {
				t.Errorf("with %q → %q: problems %q, want one with %q", m.old, m.new, p, m.want)
			}
		})
	}
}

// The build context keeps out what it must (local data, .git) and nothing
// the build reads: every Go and embedded file of ./cmd/eventops's packages.
func TestDockerignore(t *testing.T) {
	root := repoRoot(t)
	patterns := dockerignore(t, readRepoFile(t, "deploy/Dockerfile.dockerignore"))
	for _, must := range []string{".git/config", ".eventops/broker/x", "bin/eventops", "eventops"} {
		if !ignored(patterns, must) {
			t.Errorf("deploy/Dockerfile.dockerignore lets %s into the build context", must)
		}
	}
	list := exec.Command("go", "list", "-deps", "-f",
		`{{.Dir}}{{range .GoFiles}} {{.}}{{end}}{{range .EmbedFiles}} {{.}}{{end}}`, "./cmd/eventops")
	list.Dir = root
	out, err := list.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	needed := []string{"go.mod", "go.sum"}
	for line := range strings.Lines(string(out)) {
		f := strings.Fields(line)
		rel, err := filepath.Rel(root, f[0])
		if err != nil || strings.HasPrefix(rel, "..") {
			continue // the standard library and the module cache
		}
		for _, name := range f[1:] {
			needed = append(needed, filepath.ToSlash(filepath.Join(rel, name)))
		}
	}
	if len(needed) < 50 {
		t.Fatalf("go list found only %d files of the build", len(needed))
	}
	for _, n := range needed {
		if ignored(patterns, n) {
			t.Errorf("deploy/Dockerfile.dockerignore keeps %s out of the build context, and the build needs it", n)
		}
	}
	if ignored(patterns, "cmd/eventops/main.go") || ignored(patterns, "static/index.html") {
		t.Error("the ignore file is too wide")
	}
}

func dockerignore(t *testing.T, text string) []string {
	var out []string
	for line := range strings.Lines(text) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasPrefix(line, "!") {
			t.Fatalf("dockerignore exceptions (%s) are not read by this test", line)
		}
		out = append(out, strings.TrimPrefix(path.Clean(line), "/"))
	}
	return out
}

// ignored reports whether a context-relative path is excluded: a pattern
// matches the path or one of its parents; a leading **/ matches at any depth.
func ignored(patterns []string, name string) bool {
	parts := strings.Split(name, "/")
	for _, pat := range patterns {
		deep := strings.HasPrefix(pat, "**/")
		pat = strings.TrimPrefix(pat, "**/")
		for end := 1; end <= len(parts); end++ {
			for begin := 0; begin < end; begin++ {
				if begin > 0 && !deep {
					break
				}
				if ok, _ := path.Match(pat, strings.Join(parts[begin:end], "/")); ok {
					return true
				}
			}
		}
	}
	return false
}
