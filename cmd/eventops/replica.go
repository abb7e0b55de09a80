package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"

	"github.com/eventops/eventops/api"
	"github.com/eventops/eventops/processors"
	"github.com/eventops/eventops/replica"
	"github.com/eventops/eventops/rules"
)

func (c *Config) has(stage string) bool { return slices.Contains(c.Stages, stage) }

func (c *Config) clientID() string {
	if c.ClientID != "" {
		return c.ClientID
	}
	host, _ := os.Hostname()
	return fmt.Sprintf("eventops-%s-%d", host, os.Getpid())
}

// replicaOptions are the settings of a replica on brokers, without its
// listener and API keys.
func replicaOptions(cfg *Config, brokers []string, log *slog.Logger) replica.Options {
	idle := cfg.SourceIdle
	if idle == 0 {
		idle = -1 // source_idle_timeout 0 keeps every source in memory
	}
	return replica.Options{
		Stages: cfg.Stages,
		Kafka: processors.Kafka{Brokers: brokers, ClientID: cfg.clientID(), Replication: cfg.Replication, DataDir: cfg.DataDir,
			SessionTimeout: cfg.Session, HeartbeatInterval: cfg.Heartbeat, RebalanceTimeout: cfg.Rebalance, Logger: log},
		DatabaseURL: cfg.DatabaseURL, Retention: cfg.Retention,
		LoadRules: func() (*rules.RuleSet, error) { return loadRules(cfg) },
		Alerting:  cfg.Alerting, UserAgent: "eventops/" + strings.Fields(versionString())[0],
		Flush: cfg.Flush, SourceIdle: idle, SeriesStale: cfg.SeriesStale,
		MaxSeries: cfg.MaxSeries, MaxTenantSeries: cfg.MaxTenantSeries, MaxState: cfg.MaxState, MaxFuture: cfg.MaxFuture,
		WarmStart: cfg.WarmStart, WarmMaxSamples: cfg.WarmMaxSamples, WarmTimeout: cfg.WarmTimeout, WarmInFlight: cfg.WarmInFlight,
		BatchRows: cfg.BatchRows, BatchWait: cfg.BatchWait, Shutdown: cfg.Shutdown, HTTPAddr: cfg.HTTPAddr,
		API: api.Options{
			SessionSecret: []byte(cfg.SessionKey), CORSOrigins: cfg.CORSOrigins, AllowedHosts: cfg.AllowedHosts, TrustedProxies: cfg.TrustedProxies,
			IngestRate: float64(cfg.IngestRate), IngestBurst: cfg.IngestBurst,
			StreamsPerKey: cfg.StreamsPerKey, StreamsPerTenant: cfg.StreamsPerTenant, StreamsTotal: cfg.StreamsTotal,
			QueryTimeout: cfg.QueryTimeout, QueryMaxRange: cfg.QueryMaxRange, QueriesPerTenant: cfg.QueriesPerTenant, QueriesTotal: cfg.QueriesTotal,
			MaxSilences: cfg.MaxSilences, MaxSilenceMatchers: cfg.MaxMatchers,
			BacktestMaxRange: cfg.BacktestRange, BacktestMaxSamples: cfg.BacktestSamples,
		},
		Logger: log,
	}
}

// runReplica runs a replica of opts, with the API keys of cfg, until ctx
// ends; SIGHUP reloads the keys and the rules, as POST /-/reload does.
func runReplica(ctx context.Context, cfg *Config, opts replica.Options, dev bool) error {
	keys, err := apiKeys(cfg, dev, opts.Logger)
	if err != nil {
		return err
	}
	opts.API.Keys, opts.API.LocalOnly, opts.KeysFile = keys, keys == nil && dev, cfg.APIKeysFile
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	opts.Reload = hup
	r, err := replica.New(opts)
	if err != nil {
		return err
	}
	return r.Run(ctx)
}

// apiKeys loads the API keys and says at start how the API is reached.
func apiKeys(cfg *Config, dev bool, log *slog.Logger) (*api.KeyRing, error) {
	if !cfg.has(replica.StageAPI) {
		return nil, nil
	}
	if cfg.APIKeysFile != "" {
		keys, err := api.LoadKeys(cfg.APIKeysFile)
		if err != nil {
			return nil, fmt.Errorf("api_keys_file: %w", err)
		}
		log.Info("API access: keys required", "keys", keys.Len(), "tenants", keys.Tenants(), "file", cfg.APIKeysFile)
		return keys, nil
	}
	switch {
	case dev:
		log.Warn("API access: open on localhost only (no api_keys_file): every local request reads every tenant")
	case cfg.Auth == "none":
		log.Warn("API access: OPEN (auth: none): every request reads and writes every tenant")
	default:
		return nil, errors.New("api_keys_file: the api stage requires API keys (eventops keys new TENANT makes one); set auth: none to serve without them")
	}
	return nil, nil
}
