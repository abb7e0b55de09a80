package deploy

import (
	"fmt"
	"maps"
	"net"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/eventops/eventops/tables"
)

// composeFile is the part of the Compose specification the file uses.
// Decoding is strict: a key these types do not know (a misspelling such as
// depend_on or healtcheck) fails, and command, entrypoint and environment
// must be lists or maps, never strings that a shell would split.
type composeFile struct {
	Name     string                    `yaml:"name"`
	Services map[string]composeService `yaml:"services"`
	Volumes  map[string]*struct {
		Driver string `yaml:"driver"`
	} `yaml:"volumes"`
	// Extensions (x-…) hold the anchors the services merge.
	Extensions map[string]yaml.Node `yaml:",inline"`
}

type composeService struct {
	Image           string                       `yaml:"image"`
	Build           *composeBuild                `yaml:"build"`
	Command         []string                     `yaml:"command"`
	Entrypoint      []string                     `yaml:"entrypoint"`
	Environment     map[string]string            `yaml:"environment"`
	Ports           []string                     `yaml:"ports"`
	Volumes         []string                     `yaml:"volumes"`
	DependsOn       map[string]composeDependency `yaml:"depends_on"`
	Healthcheck     *composeHealthcheck          `yaml:"healthcheck"`
	Restart         string                       `yaml:"restart"`
	StopGracePeriod string                       `yaml:"stop_grace_period"`
}

type composeBuild struct {
	Context    string            `yaml:"context"`
	Dockerfile string            `yaml:"dockerfile"`
	Args       map[string]string `yaml:"args"`
}

type composeDependency struct {
	Condition string `yaml:"condition"`
}

type composeHealthcheck struct {
	Test        []string `yaml:"test"`
	Interval    string   `yaml:"interval"`
	Timeout     string   `yaml:"timeout"`
	Retries     int      `yaml:"retries"`
	StartPeriod string   `yaml:"start_period"`
	Disable     bool     `yaml:"disable"`
}

func (h *composeHealthcheck) enabled() bool { return h != nil && !h.Disable && len(h.Test) > 0 }

// portMapping is a short-syntax published port: [IP:]HOST:CONTAINER.
type portMapping struct{ ip, host, container string }

func parsePort(s string) (portMapping, error) {
	f := strings.Split(strings.TrimSuffix(s, "/tcp"), ":")
	switch len(f) {
	case 2:
		return portMapping{host: f[0], container: f[1]}, nil
	case 3:
		return portMapping{ip: f[0], host: f[1], container: f[2]}, nil
	}
	return portMapping{}, fmt.Errorf("port %q: want [IP:]HOST:CONTAINER", s)
}

// imageConfig is what the runtime stage of the Dockerfile gives a
// container: its environment and entrypoint.
func imageConfig(dockerText string) (env map[string]string, entrypoint []string, err error) {
	d, err := parseDockerfile(dockerText)
	if err != nil {
		return nil, nil, err
	}
	env = map[string]string{}
	for _, in := range d.stages[len(d.stages)-1].instrs {
		switch in.cmd {
		case "ENV":
			maps.Copy(env, keyValues(in.args))
		case "ENTRYPOINT":
			entrypoint = in.exec()
		}
	}
	return env, entrypoint, nil
}

// listeners reads a Redpanda address flag: name://host:port,….
func listeners(s string) map[string]string {
	out := map[string]string{}
	for l := range strings.SplitSeq(s, ",") {
		if name, addr, ok := strings.Cut(l, "://"); ok {
			out[name] = addr
		}
	}
	return out
}

// dashFlags reads --name=value and --name value from a command line.
func dashFlags(args []string) map[string]string {
	out := map[string]string{}
	for i := 0; i < len(args); i++ {
		name, ok := strings.CutPrefix(args[i], "--")
		if !ok {
			continue
		}
		if k, v, ok := strings.Cut(name, "="); ok {
			out[k] = v
		} else if i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") {
			out[name] = args[i+1]
			i++
		} else {
			out[name] = ""
		}
	}
	return out
}

// rpkCreate is one `rpk topic create` line.
type rpkCreate struct {
	topics      []string
	partitions  int
	replicas    int
	configs     map[string]string
	ifNotExists bool
}

// parseRPKScript reads a script made only of `rpk topic create` lines.
func parseRPKScript(script string) ([]rpkCreate, []string) {
	var p problems
	var out []rpkCreate
	script = strings.ReplaceAll(script, "\\\n", " ")
	for line := range strings.Lines(script) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.ContainsAny(line, "&|;<>$`") {
			p.add("topics-init: %q: shell operators or expansions (the script is rpk topic create lines, nothing else)", line)
			continue
		}
		w := shellWords(line)
		if len(w) < 3 || w[0] != "rpk" || w[1] != "topic" || w[2] != "create" {
			p.add("topics-init: %q is not an `rpk topic create` (the script creates topics and does nothing else)", line)
			continue
		}
		c := rpkCreate{partitions: -1, replicas: -1, configs: map[string]string{}}
		for i := 3; i < len(w); i++ {
			a := w[i]
			name, val, hasVal := strings.Cut(a, "=")
			next := func() string {
				if hasVal {
					return val
				}
				if i+1 < len(w) {
					i++
					return w[i]
				}
				p.add("topics-init: %s has no value in %q", name, line)
				return ""
			}
			switch name {
			case "-p", "--partitions":
				c.partitions, _ = strconv.Atoi(next())
			case "-r", "--replicas":
				c.replicas, _ = strconv.Atoi(next())
			case "-c", "--topic-config":
				k, v, _ := strings.Cut(next(), "=")
				c.configs[k] = v
			case "-X":
				next()
			case "--if-not-exists":
				c.ifNotExists = true
			default:
				if strings.HasPrefix(a, "-") {
					p.add("topics-init: unexpected rpk flag %s in %q", a, line)
					continue
				}
				c.topics = append(c.topics, a)
			}
		}
		out = append(out, c)
	}
	return out, p
}

// checkTopics compares the rpk lines with the layout `eventops topics`
// creates: the same topics, no other, each with its partitions, every
// config (cleanup.policy among them) and the replication the replicas use.
func checkTopics(creates []rpkCreate, layout tables.Layout, replication int) []string {
	var p problems
	specs := map[string]tables.TopicSpec{}
	for _, s := range layout.Topics() {
		specs[s.Name] = s
	}
	seen := map[string]int{}
	for _, c := range creates {
		for _, topic := range c.topics {
			seen[topic]++
			s, ok := specs[topic]
			if !ok {
				p.add("topics-init creates %s, which is not a topic of tables.DefaultLayout()", topic)
				continue
			}
			if int32(c.partitions) != s.Partitions {
				p.add("topics-init creates %s with %d partitions, tables.DefaultLayout() says %d", topic, c.partitions, s.Partitions)
			}
			if c.replicas != replication {
				p.add("topics-init creates %s with replication %d, the replicas use %d", topic, c.replicas, replication)
			}
			if !maps.Equal(c.configs, s.Configs) {
				p.add("topics-init creates %s with configs %v, tables.DefaultLayout() says %v", topic, c.configs, s.Configs)
			}
			if !c.ifNotExists {
				p.add("topics-init creates %s without --if-not-exists: a second `up` would fail", topic)
			}
		}
	}
	for name := range specs {
		if seen[name] != 1 {
			p.add("topics-init creates %s %d times, want once", name, seen[name])
		}
	}
	return p
}

// checkCompose checks deploy/docker-compose.yml.
func checkCompose(text, dockerText string, e *eventops, layout tables.Layout) []string {
	var p problems
	var c composeFile
	dec := yaml.NewDecoder(strings.NewReader(text))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return []string{"docker-compose.yml: " + err.Error()}
	}
	for k := range c.Extensions {
		if !strings.HasPrefix(k, "x-") {
			p.add("docker-compose.yml: unknown top-level key %q", k)
		}
	}
	imgEnv, entry, err := imageConfig(dockerText)
	if err != nil {
		return []string{"deploy/Dockerfile: " + err.Error()}
	}
	names := slices.Sorted(maps.Keys(c.Services))
	for _, need := range []string{"redpanda", "topics-init", "postgres", "migrate", "api"} {
		if _, ok := c.Services[need]; !ok {
			p.add("no service %s", need)
		}
	}
	if len(p) > 0 {
		return p
	}
	depends := func(svc, on, cond string) {
		if got := c.Services[svc].DependsOn[on].Condition; got != cond {
			p.add("%s depends on %s with condition %q, want %s", svc, on, got, cond)
		}
	}

	// Volumes: declared, used, where each image keeps its data.
	mounts := map[string][]string{} // volume → "service:path"
	mountedAt := func(svc, dir string) string {
		for _, v := range c.Services[svc].Volumes {
			src, dst, _ := strings.Cut(v, ":")
			if path.Clean(strings.TrimSuffix(dst, ":ro")) == path.Clean(dir) {
				return src
			}
		}
		return ""
	}
	for _, name := range names {
		for _, v := range c.Services[name].Volumes {
			src, dst, ok := strings.Cut(v, ":")
			if !ok {
				p.add("%s: volume %q has no target", name, v)
				continue
			}
			if strings.HasPrefix(src, ".") || strings.HasPrefix(src, "/") {
				continue // a bind mount
			}
			mounts[src] = append(mounts[src], name+":"+dst)
			if _, ok := c.Volumes[src]; !ok {
				p.add("%s mounts volume %s, which is not declared under volumes", name, src)
			}
		}
	}
	for v := range c.Volumes {
		if len(mounts[v]) == 0 {
			p.add("volume %s is declared and not used", v)
		}
	}

	// Health checks and the start order: a dependency is either healthy
	// (it has a health check) or a one-shot that completed.
	for _, name := range names {
		s := c.Services[name]
		oneShot := s.Restart == "no"
		switch {
		case !oneShot && s.Restart != "unless-stopped" && s.Restart != "always":
			p.add("%s: restart %q: want unless-stopped (or \"no\" for a one-shot)", name, s.Restart)
		case !oneShot && !s.Healthcheck.enabled():
			p.add("%s runs long and has no health check", name)
		}
		for dep, d := range s.DependsOn {
			t, ok := c.Services[dep]
			switch {
			case !ok:
				p.add("%s depends on %s, which is not a service", name, dep)
			case d.Condition == "service_healthy" && !t.Healthcheck.enabled():
				p.add("%s waits for %s to be healthy, and %s has no health check", name, dep, dep)
			case d.Condition == "service_completed_successfully" && t.Restart != "no":
				p.add("%s waits for %s to complete, and %s is not a one-shot (restart: \"no\")", name, dep, dep)
			case d.Condition != "service_healthy" && d.Condition != "service_completed_successfully":
				p.add("%s depends on %s with condition %q: want service_healthy or service_completed_successfully", name, dep, d.Condition)
			}
		}
	}

	// Redpanda: containers reach it on its internal listener, the host on
	// localhost:9092 (the quick start's kcat), each advertised as such.
	rp := c.Services["redpanda"]
	if !strings.HasPrefix(rp.Image, "docker.redpanda.com/redpandadata/redpanda:v") {
		p.add("redpanda: image %s: want docker.redpanda.com/redpandadata/redpanda:v…", rp.Image)
	}
	rf := dashFlags(rp.Command)
	bind, adv := listeners(rf["kafka-addr"]), listeners(rf["advertise-kafka-addr"])
	internal := ""
	hostOK := false
	for name, a := range adv {
		host, port, err := net.SplitHostPort(a)
		if err != nil {
			p.add("redpanda: advertised %s://%s: %v", name, a, err)
			continue
		}
		_, bport, _ := net.SplitHostPort(bind[name])
		if bport != port {
			p.add("redpanda: listener %s binds port %q and advertises %s", name, bport, a)
		}
		switch host {
		case "redpanda":
			internal = a
		case "localhost":
			for _, ps := range rp.Ports {
				pm, err := parsePort(ps)
				if err == nil && pm.host == "9092" && pm.container == port && port == "9092" {
					hostOK = true
				}
			}
		}
	}
	if !hostOK {
		p.add("redpanda: no listener advertised as localhost:9092 and published on the host's port 9092 (kcat -b localhost:9092)")
	}
	if internal == "" {
		p.add("redpanda: no listener advertised as redpanda:PORT for the other containers")
	}
	sr := listeners(rf["schema-registry-addr"])
	srPublished := false
	for _, a := range sr {
		_, port, _ := net.SplitHostPort(a)
		for _, ps := range rp.Ports {
			if pm, err := parsePort(ps); err == nil && pm.container == port {
				srPublished = true
			}
		}
	}
	if len(sr) == 0 || !srPublished {
		p.add("redpanda: the schema registry is not enabled (--schema-registry-addr) and published")
	}
	if src := mountedAt("redpanda", "/var/lib/redpanda/data"); src == "" {
		p.add("redpanda: no volume at /var/lib/redpanda/data")
	}

	// PostgreSQL 16 with its data in a volume.
	pg := c.Services["postgres"]
	if !strings.HasPrefix(pg.Image, "postgres:16") {
		p.add("postgres: image %s: want postgres:16…", pg.Image)
	}
	if mountedAt("postgres", "/var/lib/postgresql/data") == "" {
		p.add("postgres: no volume at /var/lib/postgresql/data")
	}
	checkDB := func(where, dsn string) {
		u, err := url.Parse(dsn)
		if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
			p.add("%s: database URL %q is not a postgres:// URL", where, dsn)
			return
		}
		pass, _ := u.User.Password()
		if u.Host != "postgres:5432" || u.User.Username() != pg.Environment["POSTGRES_USER"] ||
			pass != pg.Environment["POSTGRES_PASSWORD"] || strings.TrimPrefix(u.Path, "/") != pg.Environment["POSTGRES_DB"] {
			p.add("%s: database URL %q does not reach the postgres service's database as its user", where, dsn)
		}
	}

	// The EventOps services: the image of deploy/Dockerfile, commands and
	// settings the binary has and accepts.
	wantStages := e.knownStages()
	if len(wantStages) == 0 {
		p.add("eventops run --help lists no stages")
	}
	allStages := map[string]bool{}
	processors := 0
	replication := map[int]bool{}
	for _, name := range names {
		s := c.Services[name]
		if s.Build == nil && s.Image != c.Services["api"].Image {
			continue
		}
		where := "service " + name
		if s.Build == nil || path.Clean(path.Join("deploy", s.Build.Context, s.Build.Dockerfile)) != "deploy/Dockerfile" || path.Clean(path.Join("deploy", s.Build.Context)) != "." {
			p.add("%s: build %+v: want context .. (the repository) and dockerfile deploy/Dockerfile", where, s.Build)
		}
		if s.Entrypoint != nil {
			p.add("%s: sets an entrypoint; the image's is %q", where, entry)
		}
		inv := invocation{where: where, args: s.Command, image: imgEnv, env: s.Environment}
		cmd, set, ip := e.settings(inv)
		p = append(p, ip...)
		if set == nil {
			continue
		}
		p = append(p, e.accepts(inv)...)
		if cmd != "run" && cmd != "migrate" {
			p.add("%s runs eventops %s: want run or migrate", where, cmd)
			continue
		}
		checkDB(where, set["database_url"])
		if cmd == "migrate" {
			depends(name, "postgres", "service_healthy")
			if s.Restart != "no" {
				p.add("%s: migrate is a one-shot: want restart \"no\"", where)
			}
			if s.Healthcheck == nil || !s.Healthcheck.Disable {
				p.add("%s: a one-shot: want healthcheck: disable: true (the image's HEALTHCHECK asks a server it does not run)", where)
			}
			continue
		}
		for _, dep := range []string{"redpanda", "postgres"} {
			depends(name, dep, "service_healthy")
		}
		for _, dep := range []string{"topics-init", "migrate"} {
			depends(name, dep, "service_completed_successfully")
		}
		if set["brokers"] != internal {
			p.add("%s: brokers %q: want Redpanda's internal listener %s", where, set["brokers"], internal)
		}
		if n, err := strconv.Atoi(set["replication"]); err == nil {
			replication[n] = true
		}
		if set["partitions"] != fmt.Sprint(layout.Partitions) {
			p.add("%s: partitions %s, tables.DefaultLayout() and topics-init say %d", where, set["partitions"], layout.Partitions)
		}
		stages := stagesOf(set)
		for _, st := range stages {
			allStages[st] = true
		}
		if !slices.Contains(stages, "api") {
			p.add("%s: stages %q: only the api stage serves HTTP, so its health check (and /readyz) would never answer", where, stages)
		}
		if len(stages) >= 4 && !slices.ContainsFunc([]string{"ingest", "features", "sink", "notify"}, func(s string) bool { return !slices.Contains(stages, s) }) {
			processors++
		}
		// The health check: the binary itself, asking /readyz.
		if h := s.Healthcheck; !h.enabled() || len(h.Test) < 3 || h.Test[0] != "CMD" || !slices.Equal(h.Test[1:2], entry) || h.Test[2] != "healthcheck" {
			p.add("%s: health check %v: want [CMD %s healthcheck …] (no shell in the image)", where, s.Healthcheck, strings.Join(entry, " "))
		} else {
			p = append(p, e.checkArgs(where+" health check", h.Test[2:])...)
		}
		// A stop is not cut short.
		bound, err := drainBound(set["shutdown_timeout"])
		if grace, gerr := time.ParseDuration(s.StopGracePeriod); err != nil || gerr != nil || grace < bound {
			p.add("%s: stop_grace_period %q: want at least %s (3 × shutdown_timeout %s + 5 s)", where, s.StopGracePeriod, bound, set["shutdown_timeout"])
		}
		// Its own data volume.
		if v := mountedAt(name, set["data_dir"]); v == "" {
			p.add("%s: no volume at its data_dir %s", where, set["data_dir"])
		} else if len(mounts[v]) != 1 {
			p.add("%s: volume %s is shared (%v): each replica needs its own data directory", where, v, mounts[v])
		}
		// API access is explicit.
		_, port, _ := net.SplitHostPort(set["http_addr"])
		switch set["auth"] {
		case "none":
			if !strings.Contains(text, "WARNING: auth none") {
				p.add("%s: auth none without a comment saying WARNING: auth none and what it opens", where)
			}
			for _, ps := range s.Ports {
				if pm, err := parsePort(ps); err == nil && pm.ip != "127.0.0.1" {
					p.add("%s: auth none and port %s published on every interface: publish it on 127.0.0.1", where, ps)
				}
			}
		case "keys":
			f := set["api_keys_file"]
			if f == "" || !slices.ContainsFunc(s.Volumes, func(v string) bool {
				_, dst, _ := strings.Cut(v, ":")
				dst = strings.TrimSuffix(dst, ":ro")
				return dst == f || strings.HasPrefix(f, strings.TrimSuffix(dst, "/")+"/")
			}) {
				p.add("%s: auth keys needs api_keys_file, mounted into the container", where)
			}
		}
		if name == "api" {
			ok := false
			for _, ps := range s.Ports {
				if pm, err := parsePort(ps); err == nil && pm.host == "8088" && pm.container == port {
					ok = true
				}
			}
			if !ok {
				p.add("api: does not publish its http_addr port %s as the host's 8088 (%v)", port, s.Ports)
			}
		}
	}
	if processors != 3 {
		p.add("%d services run the ingest, features, sink and notify stages: want three replicas", processors)
	}
	for _, st := range wantStages {
		if !allStages[st] {
			p.add("no service runs the %s stage", st)
		}
	}

	// topics-init: rpk against the internal listener, exactly the layout.
	ti := c.Services["topics-init"]
	if ti.Image != rp.Image {
		p.add("topics-init: image %s: want Redpanda's own (%s) for a matching rpk", ti.Image, rp.Image)
	}
	depends("topics-init", "redpanda", "service_healthy")
	if b := ti.Environment["RPK_BROKERS"]; b != internal {
		p.add("topics-init: RPK_BROKERS %q: want Redpanda's internal listener %s", b, internal)
	}
	if len(ti.Entrypoint) != 2 || !slices.Contains([]string{"/bin/sh", "/bin/bash"}, ti.Entrypoint[0]) || !strings.HasSuffix(ti.Entrypoint[1], "c") ||
		!strings.Contains(ti.Entrypoint[1], "e") || len(ti.Command) != 1 {
		p.add("topics-init: entrypoint %q command (%d items): want [/bin/sh -euc] and the script as one item (stop at the first failure)", ti.Entrypoint, len(ti.Command))
	} else {
		creates, cp := parseRPKScript(ti.Command[0])
		p = append(p, cp...)
		if len(replication) != 1 {
			p.add("the replicas disagree on replication: %v", slices.Sorted(maps.Keys(replication)))
		}
		for r := range replication {
			p = append(p, checkTopics(creates, layout, r)...)
		}
	}
	return p
}

func TestCompose(t *testing.T) {
	e := eventopsBinary(t)
	text := readRepoFile(t, "deploy/docker-compose.yml")
	docker := readRepoFile(t, "deploy/Dockerfile")
	if p := checkCompose(text, docker, e, tables.DefaultLayout()); len(p) > 0 {
		t.Errorf("deploy/docker-compose.yml:\n  %s", strings.Join(p, "\n  "))
	}
	// The build context the compose file names holds the Dockerfile.
	if _, err := os.Stat(filepath.Join(repoRoot(t), "deploy", "Dockerfile")); err != nil {
		t.Error(err)
	}
}

// Every check of checkCompose catches the mistake it is there for.
func TestComposeChecksCatchMistakes(t *testing.T) {
	e := eventopsBinary(t)
	text := readRepoFile(t, "deploy/docker-compose.yml")
	docker := readRepoFile(t, "deploy/Dockerfile")
	const create = "rpk topic create ingest.dlq.v1 --if-not-exists -p 3 -r 1 -c cleanup.policy=delete -c retention.ms=604800000"
	mutations := []mutation{
		{"misspelled key", "    depends_on:\n      redpanda: {condition: service_healthy}\n    environment:\n      RPK_BROKERS",
			"    depend_on:\n      redpanda: {condition: service_healthy}\n    environment:\n      RPK_BROKERS", "field depend_on not found"},
		{"command as a string", `command: ["migrate"]`, `command: migrate --database-url x`, "cannot unmarshal"},
		{"wrong partitions", create, strings.Replace(create, "-p 3", "-p 12", 1), "ingest.dlq.v1 with 12 partitions, tables.DefaultLayout() says 3"},
		{"wrong cleanup policy", "rpk topic create meta.source.v1 --if-not-exists -p 12 -r 1 -c cleanup.policy=compact",
			"rpk topic create meta.source.v1 --if-not-exists -p 12 -r 1 -c cleanup.policy=delete", "meta.source.v1 with configs"},
		{"missing topic", create + "\n", "", "creates ingest.dlq.v1 0 times"},
		{"extra topic", create + "\n", create + "\n        rpk topic create ingest.dlq.v2 --if-not-exists -p 3 -r 1\n", "ingest.dlq.v2, which is not a topic"},
		{"wrong replication", create, strings.Replace(create, "-r 1", "-r 3", 1), "ingest.dlq.v1 with replication 3, the replicas use 1"},
		{"not idempotent", create, strings.Replace(create, " --if-not-exists", "", 1), "without --if-not-exists"},
		{"other command in the script", create, create + " && rpk topic delete ops.alert.v1", "shell operators"},
		{"rpk elsewhere", "RPK_BROKERS: redpanda:29092", "RPK_BROKERS: localhost:9092", "RPK_BROKERS \"localhost:9092\""},
		{"advertise container address to the host", "external://localhost:9092", "external://redpanda:9092", "localhost:9092"},
		{"host port not published", `"127.0.0.1:9092:9092"`, `"127.0.0.1:19092:9092"`, "published on the host's port 9092"},
		{"no schema registry", "      - --schema-registry-addr=internal://0.0.0.0:8081,external://0.0.0.0:18081\n", "", "schema registry"},
		{"brokers via localhost", "EVENTOPS_BROKERS: redpanda:29092", "EVENTOPS_BROKERS: localhost:9092", "want Redpanda's internal listener"},
		{"unknown stage", `"ingest,features,sink,notify,api", "--client-id", "eventops-1"`, `"ingest,feature,sink,notify,api", "--client-id", "eventops-1"`, "refuses the configuration"},
		{"no api stage: no HTTP for the health check", `"ingest,features,sink,notify,api", "--client-id", "eventops-2"`, `"ingest,features,sink,notify", "--client-id", "eventops-2"`, "only the api stage serves HTTP"},
		{"unknown flag", `"--client-id", "eventops-3"`, `"--client", "eventops-3"`, "has no flag --client"},
		{"unknown command", `command: ["migrate"]`, `command: ["migrations"]`, `no command "migrations"`},
		{"unknown variable", "EVENTOPS_REPLICATION: \"1\"", "EVENTOPS_REPLICAS: \"1\"", "reads no EVENTOPS_REPLICAS"},
		{"bad value", "EVENTOPS_REPLICATION: \"1\"", "EVENTOPS_REPLICATION: \"one\"", "refuses the configuration"},
		{"two processing replicas", `command: ["run", "--stages", "ingest,features,sink,notify,api", "--client-id", "eventops-3"]`, `command: ["run", "--stages", "ingest,api", "--client-id", "eventops-3"]`, "want three replicas"},
		{"shared data volume", "      - eventops-2:/var/lib/eventops", "      - eventops-1:/var/lib/eventops", "is shared"},
		{"undeclared volume", "      - api:/var/lib/eventops", "      - api-data:/var/lib/eventops", "api-data, which is not declared"},
		{"short grace", "stop_grace_period: 100s", "stop_grace_period: 30s", "stop_grace_period \"30s\""},
		{"started, not healthy", "    postgres: {condition: service_healthy}\n    topics-init", "    postgres: {condition: service_started}\n    topics-init", "condition \"service_started\""},
		{"migrations not waited for", "    migrate: {condition: service_completed_successfully}\n", "", "depends on migrate with condition \"\""},
		{"waiting for a one-shot to be healthy", "topics-init: {condition: service_completed_successfully}", "topics-init: {condition: service_healthy}", "topics-init has no health check"},
		{"no health check", "      test: [\"CMD\", \"pg_isready\", \"-U\", \"eventops\", \"-d\", \"eventops\"]\n", "", "postgres runs long and has no health check"},
		{"curl in the health check", `test: ["CMD", "/eventops", "healthcheck", "--timeout", "3s"]`, `test: ["CMD-SHELL", "curl -f http://localhost:8088/readyz"]`, "no shell in the image"},
		{"health check flag", `test: ["CMD", "/eventops", "healthcheck", "--timeout", "3s"]`, `test: ["CMD", "/eventops", "healthcheck", "--time", "3s"]`, "has no flag --time"},
		{"API on every interface", `"127.0.0.1:8088:8088"`, `"8088:8088"`, "published on every interface"},
		{"API not published", `"127.0.0.1:8088:8088"`, `"127.0.0.1:8089:8088"`, "as the host's 8088"},
		{"silent auth none", "# WARNING: auth none", "# auth none", "without a comment saying WARNING"},
		{"keys without a file", "EVENTOPS_AUTH: none", "EVENTOPS_AUTH: keys", "needs api_keys_file"},
		{"wrong database", "postgres://eventops:eventops@postgres:5432/eventops?sslmode=disable\n  # One", "postgres://eventops:eventops@localhost:5432/eventops?sslmode=disable\n  # One", "does not reach the postgres service"},
		{"postgres 15", "image: postgres:16-bookworm", "image: postgres:15", "want postgres:16"},
		{"own Dockerfile", "dockerfile: deploy/Dockerfile", "dockerfile: Dockerfile", "want context .."},
		{"one-shot migrate restarts", "    restart: \"no\"\n\n  # Three", "    restart: unless-stopped\n\n  # Three", "migrate is a one-shot"},
	}
	for _, m := range mutations {
		t.Run(m.name, func(t *testing.T) {
			p := checkCompose(m.apply(t, text), docker, e, tables.DefaultLayout())
			if !mentions(p, m.want) {
				t.Errorf("with %q → %q: problems\n  %s\nwant one with %q", m.old, m.new, strings.Join(p, "\n  "), m.want)
			}
		})
	}
	// A layout that differs from the file's topics is caught too.
	l := tables.DefaultLayout()
	l.Partitions = 24
	if p := checkCompose(text, docker, e, l); !mentions(p, "signals.metric.v1 with 12 partitions, tables.DefaultLayout() says 24") {
		t.Errorf("with 24 partitions in the layout: %q", p)
	}
}
