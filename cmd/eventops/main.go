package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

type command struct {
	name, args, summary string
	// keys are the settings the command reads.
	keys []string
	// bind registers the command's own flags (those that are not settings).
	bind func(fs *flag.FlagSet)
	run  func(ctx context.Context, cfg *Config, args []string, log *slog.Logger) error
}

// replicaKeys are the settings of a replica that dev and run both read.
var replicaKeys = []string{"data_dir", "http_addr", "addr_file", "database_url", "rules", "alerting", "partitions", "client_id",
	"flush_interval", "shutdown_timeout", "batch_rows", "batch_interval", "max_future", "source_idle_timeout",
	"max_series_per_source", "max_series_per_tenant", "series_stale_after", "max_state_bytes", "retention",
	"warm_start", "warm_start_max_samples", "warm_start_timeout", "warm_start_concurrency",
	"api_keys_file", "session_secret", "cors_origins", "allowed_hosts", "trusted_proxies", "ingest_rate", "ingest_burst",
	"streams_per_key", "streams_per_tenant", "streams_total", "query_timeout", "query_max_range", "queries_per_tenant", "queries_total",
	"backtest_max_range", "backtest_max_samples",
	"max_silences", "max_silence_matchers", "memory_limit"}

func commands() []command {
	return []command{
		{name: "dev", summary: "run everything in one process on the embedded broker (and a private PostgreSQL unless DATABASE_URL is set)",
			keys: append([]string{"kafka_addr"}, replicaKeys...), run: runDev},
		{name: "run", summary: "run the chosen stages against external brokers and PostgreSQL; start it N times to scale out",
			keys: append([]string{"brokers", "stages", "replication", "session_timeout", "heartbeat_interval", "rebalance_timeout", "auth"}, replicaKeys...),
			run:  runRun},
		brokerCommand(),
		{name: "topics", summary: "create every EventOps topic on the brokers (idempotent) and report what differs",
			keys: []string{"brokers", "partitions", "replication"}, run: runTopics},
		{name: "migrate", summary: "bring the PostgreSQL schema up to date (safe to run from several replicas at once)",
			keys: []string{"database_url"}, run: runMigrate},
		{name: "rules", args: "check|test FILE... | backtest --rules FILE --from T [--to T] [--compare OLD_FILE] ...",
			summary: "check rule files, run rule unit tests, or backtest rules over the stored history (`eventops rules backtest --help`)",
			keys:    []string{"database_url", "max_series_per_source", "series_stale_after"}, run: runRules},
		{name: "alerting", args: "check FILE...", summary: "check receivers files (routes, receivers, inhibit_rules, time_intervals)",
			keys: []string{}, run: runAlerting},
		loadgenCommand(),
		keysCommand(),
		healthcheckCommand(),
		benchCommand(),
		chaosCommand(),
		{name: "version", summary: "print the version", run: func(context.Context, *Config, []string, *slog.Logger) error {
			fmt.Println("eventops", versionString())
			return nil
		}},
	}
}

func main() {
	os.Exit(realMain(os.Args[1:], os.Stdout, os.Stderr))
}

func realMain(args []string, stdout, stderr io.Writer) int {
	cmds := commands()
	if len(args) == 1 && (args[0] == "--version" || args[0] == "-version") {
		args = []string{"version"}
	}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stdout, cmds)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	var cmd *command
	for i := range cmds {
		if cmds[i].name == args[0] {
			cmd = &cmds[i]
		}
	}
	if cmd == nil {
		fmt.Fprintf(stderr, "eventops: unknown command %q\n\n", args[0])
		usage(stderr, cmds)
		return 2
	}
	fs := flag.NewFlagSet("eventops "+cmd.name, flag.ContinueOnError)
	// The flag package's own messages are left out: a bad flag is reported
	// below with one line on where the flags are listed.
	fs.SetOutput(io.Discard)
	help := func() {
		fs.SetOutput(stderr)
		fmt.Fprintf(fs.Output(), "usage: eventops %s [flags] %s\n\n%s.\n\nEvery flag can also be set as an EVENTOPS_* environment variable or a key of the --config YAML file;\nflags win over the environment, which wins over the file.\n\nflags:\n", cmd.name, cmd.args, cmd.summary)
		fs.PrintDefaults()
	}
	fs.Usage = func() {}
	if cmd.bind != nil {
		cmd.bind(fs)
	}
	var cfg Config
	rest, err := cfg.load(fs, args[1:], cmd.keys)
	if errors.Is(err, flag.ErrHelp) {
		help()
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "eventops %s: invalid configuration:\n  %s\n(`eventops %s --help` lists the flags)\n", cmd.name, strings.ReplaceAll(err.Error(), "\n", "\n  "), cmd.name)
		return 2
	}
	log := newLogger(stderr, cfg.LogFormat, cfg.LogLevel)
	applyMemoryLimit(cfg.MemoryLimit)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := cmd.run(ctx, &cfg, rest, log); err != nil {
		var ue usageError
		switch {
		case errors.As(err, &ue):
			fmt.Fprintf(stderr, "eventops %s: %s\n(`eventops %s --help` lists the flags)\n", cmd.name, err, cmd.name)
			return 2
		case errors.Is(err, errReported):
			return 1
		}
		log.Error("eventops "+cmd.name+" failed", "err", err)
		return 1
	}
	return 0
}

// errReported is a failure the command has already told the user about
// in its own words: it only sets the exit status.
var errReported = errors.New("failed, as reported")

// usageError is a command line the command cannot use.
type usageError struct{ msg string }

func (u usageError) Error() string { return u.msg }

func usage(w io.Writer, cmds []command) {
	fmt.Fprintf(w, "eventops: a stream processor for observability telemetry (version %s)\n\nusage: eventops COMMAND [flags]\n\ncommands:\n", versionString())
	for _, c := range cmds {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "\n`eventops COMMAND --help` lists a command's flags.\n")
}

// report is what a subcommand prints at its end: as text, or as indented
// JSON with --json.
type report interface{ WriteText(w io.Writer) error }

func printReport(w io.Writer, r report, jsonOut bool) error {
	if jsonOut {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	return r.WriteText(w)
}

func newLogger(w io.Writer, format, level string) *slog.Logger {
	var lv slog.Level
	_ = lv.UnmarshalText([]byte(level))
	opts := &slog.HandlerOptions{Level: lv}
	var h slog.Handler = slog.NewTextHandler(w, opts)
	if format == "json" {
		h = slog.NewJSONHandler(w, opts)
	}
	return slog.New(h)
}
