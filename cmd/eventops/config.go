package main

import (
	"errors"
	"flag"
	"fmt"
	"maps"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/eventops/eventops/api"
	"github.com/eventops/eventops/replica"
)

// Config is every setting of every subcommand. Each field has one key:
// the flag is --key-with-dashes, the environment variable EVENTOPS_KEY, the
// YAML key key. Precedence: flags > environment > YAML file > defaults.
type Config struct {
	DataDir          string        `key:"data_dir" default:"./.eventops" help:"directory for the embedded broker, goka's local state and the private PostgreSQL"`
	Brokers          []string      `key:"brokers" help:"Kafka/Redpanda brokers, comma-separated (run; dev uses its embedded broker)"`
	KafkaAddr        string        `key:"kafka_addr" default:"127.0.0.1:9092" help:"address the embedded broker listens on (dev, broker); port 0 picks a free one (see addr_file)"`
	NumBrokers       int           `key:"num_brokers" default:"1" help:"brokers the embedded cluster runs, on consecutive ports from kafka_addr's, or each on a free one with port 0 (broker)"`
	HTTPAddr         string        `key:"http_addr" default:":8088" help:"address of the HTTP API and dashboard; port 0 picks a free one (see addr_file)"`
	AddrFile         string        `key:"addr_file" help:"file the bound addresses are written to once the process listens (dev, run, broker): a JSON object with kafka, the embedded brokers' host:port list, and http, the API's host:port; it appears whole, so a caller that removed it before the start polls for it to learn what port 0 chose"`
	DatabaseURL      string        `key:"database_url" env:"DATABASE_URL" help:"PostgreSQL URL; dev starts a private cluster under data_dir when empty"`
	Stages           []string      `key:"stages" default:"ingest,features,sink,api" help:"stages this replica runs: ingest, features, sink, notify, api"`
	Replication      int           `key:"replication" default:"0" help:"replication factor of the topics EventOps creates (0: one replica on each broker, at most 3)"`
	Partitions       int           `key:"partitions" default:"12" help:"partitions of the raw and co-partitioned topics (fixed once created)"`
	Rules            string        `key:"rules" help:"rule file (YAML); empty uses the built-in example rules"`
	Alerting         string        `key:"alerting" help:"receivers file of the notify stage (YAML in Alertmanager's shape: route, receivers with webhook_configs); empty sends nothing"`
	ClientID         string        `key:"client_id" help:"name of this replica on the broker (default: eventops-<hostname>-<pid>)"`
	LogFormat        string        `key:"log_format" default:"text" help:"log format: text or json"`
	LogLevel         string        `key:"log_level" default:"info" help:"log level: debug, info, warn or error"`
	Flush            time.Duration `key:"flush_interval" default:"5s" help:"how often dirty per-source state is written to its table"`
	Shutdown         time.Duration `key:"shutdown_timeout" default:"30s" help:"how long a stop may take to drain batches and state"`
	Session          time.Duration `key:"session_timeout" default:"6s" help:"consumer group session timeout: how fast a dead replica is noticed (Kafka's smallest by default)"`
	Heartbeat        time.Duration `key:"heartbeat_interval" default:"1s" help:"consumer group heartbeat interval"`
	Rebalance        time.Duration `key:"rebalance_timeout" default:"30s" help:"consumer group rebalance timeout (keep it far from goka's 5s rejoin pause)"`
	BatchRows        int           `key:"batch_rows" default:"10000" help:"rows per PostgreSQL batch"`
	BatchWait        time.Duration `key:"batch_interval" default:"200ms" help:"longest wait before a partial PostgreSQL batch is written"`
	MaxFuture        time.Duration `key:"max_future" default:"30s" help:"how far an event time may be ahead of when its record reached the broker or HTTP ingest (kept well inside the 1m lateness; cf. Mimir's 10m creation grace period)"`
	SourceIdle       time.Duration `key:"source_idle_timeout" default:"10m" help:"how long a source's actor stays in memory without a signal once its state is in the table (it comes back with its next signal or rule deadline)"`
	MaxSeries        int           `key:"max_series_per_source" default:"500" help:"series (metric and tags) a source keeps windowed features of; samples of new series beyond it go to the DLQ with reason series_limit (their rows are stored)"`
	MaxTenantSeries  int           `key:"max_series_per_tenant" default:"100000" help:"series the sources of a tenant keep windowed features of, in a replica's memory; samples of new series beyond it go to the DLQ with reason series_limit"`
	SeriesStale      time.Duration `key:"series_stale_after" default:"1h" help:"how long a series may go without a sample (by its source's event time) before it leaves the source's state and its alerts resolve (reason series_gone); a series a seconds_since_last rule still judges stays longer"`
	MaxState         int           `key:"max_state_bytes" default:"786432" help:"bound of a source's encoded feature state, under the broker's max.message.bytes; a state beyond it sheds series (reason source_limit)"`
	WarmStart        bool          `key:"warm_start" default:"false" help:"fill the windows of a source that starts empty (new to this replica, or whose series a configuration change reset) from its samples in PostgreSQL, so that avg(m, \"1h\") is right from its first sample; features only, no alert transition comes of the history"`
	WarmMaxSamples   int           `key:"warm_start_max_samples" default:"100000" help:"samples one warm start may read; a source with more in its longest window starts cold"`
	WarmTimeout      time.Duration `key:"warm_start_timeout" default:"10s" help:"how long one warm start may take, its wait for a slot included; a source whose warm start takes longer starts cold (its signals wait meanwhile)"`
	WarmInFlight     int           `key:"warm_start_concurrency" default:"4" help:"warm starts that read PostgreSQL at once in a replica"`
	Retention        time.Duration `key:"retention" default:"0s" help:"how long metrics are kept: older daily partitions are dropped, older rows go to the DLQ (0 keeps them forever)"`
	MemoryLimit      string        `key:"memory_limit" default:"auto" help:"soft limit of the process's memory that the Go runtime collects garbage to stay under (GOMEMLIMIT): a size like 1GiB or 768MiB, auto (90% of the memory limit of the process's cgroup, a container's or a systemd unit's, when it has one, else none; a GOMEMLIMIT in the environment wins) or off. It bounds the garbage a burst leaves, not what the state needs: below that the collector only costs CPU"`
	ConfigFile       string        `key:"config" help:"YAML file with any of these keys"`
	APIKeysFile      string        `key:"api_keys_file" help:"API keys file: one 'sha256:<hex> <tenant or *> [name]' a line (eventops keys new TENANT makes one); dev without it serves localhost only"`
	Auth             string        `key:"auth" default:"keys" help:"API access of run: keys (api_keys_file required) or none (every request reads every tenant)"`
	SessionKey       string        `key:"session_secret" help:"secret that signs browser sessions, at least 32 bytes (openssl rand -hex 32); replicas behind one address need the same (default: random, sessions hold on one replica)"`
	CORSOrigins      []string      `key:"cors_origins" help:"origins other than the API's own that browsers may call it from and send writes from, comma-separated (none by default)"`
	AllowedHosts     []string      `key:"allowed_hosts" help:"Host names the API answers to while it is open without keys, besides localhost, comma-separated (none by default)"`
	TrustedProxies   []string      `key:"trusted_proxies" help:"addresses or CIDRs of the reverse proxies whose X-Forwarded-* headers are believed (the session cookie's Secure flag follows X-Forwarded-Proto from them), comma-separated (none by default)"`
	IngestRate       int           `key:"ingest_rate" default:"20000" help:"events per second each tenant may send to POST /ingest (0: no limit)"`
	IngestBurst      int           `key:"ingest_burst" default:"100000" help:"events a tenant may send to POST /ingest at once before ingest_rate applies"`
	StreamsPerKey    int           `key:"streams_per_key" default:"10" help:"alert streams (GET /alerts/stream) one key may hold open at once"`
	StreamsPerTenant int           `key:"streams_per_tenant" default:"50" help:"alert streams open at once for one tenant (all tenants' streams count as *)"`
	StreamsTotal     int           `key:"streams_total" default:"1000" help:"alert streams this replica holds open at once"`
	QueryTimeout     time.Duration `key:"query_timeout" default:"30s" help:"longest database read of one API request; PostgreSQL cancels it then"`
	QueryMaxRange    time.Duration `key:"query_max_range" default:"8784h" help:"longest time range of a metric query (from..to, or from..now with step)"`
	BacktestRange    time.Duration `key:"backtest_max_range" default:"744h" help:"longest time range of a backtest (POST /rules/backtest, the dashboard's rule preview)"`
	BacktestSamples  int           `key:"backtest_max_samples" default:"500000" help:"samples one backtest (POST /rules/backtest) reads at most; past it, 422"`
	QueriesPerTenant int           `key:"queries_per_tenant" default:"2" help:"database reads the API runs at once for one tenant (more: 429)"`
	QueriesTotal     int           `key:"queries_total" default:"4" help:"database reads the API runs at once in all, its share of the 8-connection pool (more: 429)"`
	MaxSilences      int           `key:"max_silences" default:"1000" help:"pending and active silences a tenant may have"`
	MaxMatchers      int           `key:"max_silence_matchers" default:"32" help:"matchers of one silence"`
}

type field struct {
	key, flagName, env, def, help string
	v                             reflect.Value
}

func (c *Config) fields() []field {
	rv := reflect.ValueOf(c).Elem()
	rt := rv.Type()
	out := make([]field, 0, rt.NumField())
	for i := 0; i < rt.NumField(); i++ {
		f := rt.Field(i)
		key := f.Tag.Get("key")
		out = append(out, field{
			key: key, flagName: strings.ReplaceAll(key, "_", "-"),
			env: "EVENTOPS_" + strings.ToUpper(key), def: f.Tag.Get("default"), help: f.Tag.Get("help"), v: rv.Field(i),
		})
		if alt := f.Tag.Get("env"); alt != "" {
			out[len(out)-1].env += "," + alt
		}
	}
	return out
}

func setValue(v reflect.Value, s string) error {
	switch v.Interface().(type) {
	case string:
		v.SetString(s)
	case bool:
		b, err := strconv.ParseBool(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("%q is not true or false", s)
		}
		v.SetBool(b)
	case int:
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("%q is not a whole number", s)
		}
		v.SetInt(int64(n))
	case time.Duration:
		d, err := time.ParseDuration(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("%q is not a duration (like 500ms, 10s, 5m)", s)
		}
		v.Set(reflect.ValueOf(d))
	case []string:
		var list []string
		for _, p := range strings.Split(s, ",") {
			if p = strings.TrimSpace(p); p != "" {
				list = append(list, p)
			}
		}
		v.Set(reflect.ValueOf(list))
	default:
		return fmt.Errorf("unsupported setting type %s", v.Type())
	}
	return nil
}

// flagValue adapts a field to the flag package.
type flagValue struct{ f field }

func (fv flagValue) String() string {
	if !fv.f.v.IsValid() {
		return ""
	}
	if l, ok := fv.f.v.Interface().([]string); ok {
		return strings.Join(l, ",")
	}
	return fmt.Sprint(fv.f.v.Interface())
}

func (fv flagValue) Set(s string) error { return setValue(fv.f.v, s) }

// IsBoolFlag lets a boolean setting's flag stand alone (--warm-start).
func (fv flagValue) IsBoolFlag() bool { return fv.f.v.IsValid() && fv.f.v.Kind() == reflect.Bool }

// load fills c from defaults, the YAML file, the environment and args, and
// returns the remaining arguments. used names the keys the subcommand reads;
// the others are not offered as flags.
func (c *Config) load(fs *flag.FlagSet, args []string, used []string) ([]string, error) {
	isUsed := map[string]bool{"config": true, "log_format": true, "log_level": true}
	for _, u := range used {
		isUsed[u] = true
	}
	fields := c.fields()
	for _, f := range fields {
		if f.def != "" {
			if err := setValue(f.v, f.def); err != nil {
				return nil, fmt.Errorf("default of %s: %w", f.key, err)
			}
		}
	}
	// Flags are parsed into a scratch config first, so that the YAML file
	// and the environment can be applied underneath them.
	var flagged Config
	ff := flagged.fields()
	for i, f := range fields {
		if isUsed[f.key] {
			ff[i].v.Set(f.v)
			fs.Var(flagValue{ff[i]}, f.flagName, f.help+" (env "+strings.Split(f.env, ",")[0]+")")
		}
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	set := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })

	file := flagged.ConfigFile
	if !set["config"] {
		file = os.Getenv("EVENTOPS_CONFIG")
	}
	if file != "" {
		if err := c.loadYAML(file, isUsed); err != nil {
			return nil, err
		}
	}
	for _, f := range fields {
		for _, name := range strings.Split(f.env, ",") {
			if v, ok := os.LookupEnv(name); ok && isUsed[f.key] {
				if err := setValue(f.v, v); err != nil {
					return nil, fmt.Errorf("%s (from %s): %w", f.key, name, err)
				}
				break
			}
		}
	}
	for i, f := range fields {
		if set[f.flagName] {
			f.v.Set(ff[i].v)
		}
	}
	c.ConfigFile = file
	return fs.Args(), c.validate(isUsed)
}

func (c *Config) loadYAML(path string, isUsed map[string]bool) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	var raw map[string]yaml.Node
	if err := yaml.Unmarshal(b, &raw); err != nil {
		return fmt.Errorf("config %s: %w", path, err)
	}
	byKey := map[string]field{}
	for _, f := range c.fields() {
		byKey[f.key] = f
	}
	var errs []error
	for _, k := range slices.Sorted(maps.Keys(raw)) {
		node := raw[k]
		f, ok := byKey[k]
		if !ok {
			errs = append(errs, fmt.Errorf("config %s:%d: unknown key %q", path, node.Line, k))
			continue
		}
		s, err := yamlString(node)
		if err == nil {
			err = setValue(f.v, s)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("config %s:%d: %s: %w", path, node.Line, k, err))
		}
	}
	return errors.Join(errs...)
}

// yamlString is a YAML value as the environment gives it: a list is its
// items joined by commas.
func yamlString(node yaml.Node) (string, error) {
	if node.Kind != yaml.SequenceNode {
		var s string
		err := node.Decode(&s)
		return s, err
	}
	var list []string
	err := node.Decode(&list)
	return strings.Join(list, ","), err
}

// validate checks the settings a subcommand uses, naming the key.
func (c *Config) validate(isUsed map[string]bool) error {
	var errs []error
	bad := badSetting(func(key, format string, args ...any) {
		if isUsed[key] {
			errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
		}
	})
	c.validateProcess(bad)
	c.validateStages(bad)
	c.validateAPI(bad)
	bad.inRange("batch_rows", c.BatchRows, 1, 1_000_000)
	return errors.Join(errs...)
}

// badSetting reports a setting that is not valid.
type badSetting func(key, format string, args ...any)

// inRange reports an integer setting outside lo..hi.
func (bad badSetting) inRange(key string, v, lo, hi int) {
	if v < lo || v > hi {
		bad(key, "%d is out of range %d..%d", v, lo, hi)
	}
}

// validateProcess checks the settings of the process: its files, logs,
// stages, topics and brokers.
func (c *Config) validateProcess(bad badSetting) {
	if c.DataDir == "" {
		bad("data_dir", "must not be empty")
	}
	switch c.LogFormat {
	case "text", "json":
	default:
		bad("log_format", "%q is not text or json", c.LogFormat)
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		bad("log_level", "%q is not debug, info, warn or error", c.LogLevel)
	}
	for _, s := range c.Stages {
		if !slices.Contains(replica.Stages(), s) {
			bad("stages", "unknown stage %q (known: %s)", s, strings.Join(replica.Stages(), ", "))
		}
	}
	if len(c.Stages) == 0 {
		bad("stages", "name at least one stage")
	}
	bad.inRange("replication", c.Replication, 0, 32)
	bad.inRange("partitions", c.Partitions, 1, 1024)
	bad.inRange("num_brokers", c.NumBrokers, 1, 16)
	if _, err := parseMemoryLimit(c.MemoryLimit); err != nil {
		bad("memory_limit", "%v", err)
	}
}

// validateStages checks the settings of the stages: their timings and the
// bounds of their state.
func (c *Config) validateStages(bad badSetting) {
	positive := map[string]time.Duration{"flush_interval": c.Flush, "shutdown_timeout": c.Shutdown,
		"session_timeout": c.Session, "heartbeat_interval": c.Heartbeat, "rebalance_timeout": c.Rebalance,
		"batch_interval": c.BatchWait, "max_future": c.MaxFuture}
	for k, d := range positive {
		if d <= 0 {
			bad(k, "must be positive")
		}
	}
	if c.Heartbeat >= c.Session {
		bad("heartbeat_interval", "%s must be shorter than session_timeout (%s)", c.Heartbeat, c.Session)
	}
	if c.Rebalance >= 4*time.Second && c.Rebalance <= 7*time.Second {
		bad("rebalance_timeout", "%s is too close to goka's 5s rejoin pause: replicas would trade partitions forever", c.Rebalance)
	}
	if c.MaxSeries < 1 {
		bad("max_series_per_source", "must be positive")
	}
	if c.SeriesStale < time.Minute {
		bad("series_stale_after", "%s is shorter than a minute", c.SeriesStale)
	}
	if c.MaxTenantSeries < 1 {
		bad("max_series_per_tenant", "must be positive")
	}
	bad.inRange("max_state_bytes", c.MaxState, 64<<10, 64<<20)
	bad.inRange("warm_start_max_samples", c.WarmMaxSamples, 1, 10_000_000)
	bad.inRange("warm_start_concurrency", c.WarmInFlight, 1, 64)
	if c.WarmTimeout <= 0 {
		bad("warm_start_timeout", "must be positive")
	}
	if c.SourceIdle < 0 {
		bad("source_idle_timeout", "must not be negative (0 keeps every source in memory)")
	}
	if c.Retention < 0 {
		bad("retention", "%s must not be negative (0 keeps metrics forever)", c.Retention)
	}
}

// validateAPI checks the settings of the API: access and limits.
func (c *Config) validateAPI(bad badSetting) {
	if err := api.CheckSessionSecret(c.SessionKey); err != nil {
		bad("session_secret", "%v", err)
	}
	switch c.Auth {
	case "keys", "none":
	default:
		bad("auth", "%q is not keys or none", c.Auth)
	}
	if c.IngestRate < 0 {
		bad("ingest_rate", "%d must not be negative (0: no limit)", c.IngestRate)
	}
	if c.IngestBurst < 1 {
		bad("ingest_burst", "%d must be at least 1", c.IngestBurst)
	}
	for k, n := range map[string]int{"streams_per_key": c.StreamsPerKey, "streams_per_tenant": c.StreamsPerTenant, "streams_total": c.StreamsTotal,
		"queries_per_tenant": c.QueriesPerTenant, "queries_total": c.QueriesTotal, "max_silences": c.MaxSilences, "max_silence_matchers": c.MaxMatchers} {
		if n < 1 {
			bad(k, "%d must be at least 1", n)
		}
	}
	if c.QueryTimeout <= 0 {
		bad("query_timeout", "must be positive")
	}
	if len(c.CORSOrigins) > 1 && slices.Contains(c.CORSOrigins, "*") {
		bad("cors_origins", `"*" (reads from every origin) stands alone: list it without other origins`)
	}
	if c.QueryMaxRange < time.Hour {
		bad("query_max_range", "%s is shorter than 1h", c.QueryMaxRange)
	}
	if c.BacktestRange < time.Hour {
		bad("backtest_max_range", "%s is shorter than 1h", c.BacktestRange)
	}
	if c.BacktestSamples < 1 {
		bad("backtest_max_samples", "must be positive")
	}
}
