package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/eventops/eventops/pglocal"
)

// runDev runs everything in one process: the embedded broker, PostgreSQL
// (DATABASE_URL, or a private cluster under the data directory), every
// stage and the API.
func runDev(ctx context.Context, cfg *Config, _ []string, log *slog.Logger) error {
	cfg.Stages = []string{"ingest", "features", "sink", "notify", "api"}
	cfg.Replication = 1
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return fmt.Errorf("data_dir: %w", err)
	}
	b, err := startBroker(cfg, 1, log)
	if err != nil {
		return err
	}
	defer func() {
		log.Info("stopping the embedded broker")
		b.Close()
	}()
	cfg.HTTPAddr = devHTTPAddr(cfg)
	apiLn, err := listenAPI(cfg)
	if err != nil {
		return err
	}
	defer apiLn.Close()
	if err := (listening{Kafka: b.Addrs(), HTTP: addrOf(apiLn)}).report(cfg.AddrFile, log); err != nil {
		return err
	}
	if err := ensureTopics(ctx, cfg, b.Addrs(), log, false); err != nil {
		return err
	}
	dbURL := cfg.DatabaseURL
	if dbURL == "" {
		pg, err := pglocal.Start(ctx, pglocal.Options{Dir: filepath.Join(cfg.DataDir, "postgres"), Logger: log})
		if err != nil {
			return err
		}
		defer func() {
			log.Info("stopping the private PostgreSQL")
			if err := pg.Stop(); err != nil {
				log.Error("stopping PostgreSQL", "err", err)
			}
		}()
		dbURL = pg.URL()
	}
	p := &pipeline{cfg: cfg, log: log, brokers: b.Addrs(), dbURL: dbURL, api: apiLn, dev: true}
	return p.run(ctx)
}

// runRun runs the chosen stages against external brokers and PostgreSQL.
func runRun(ctx context.Context, cfg *Config, _ []string, log *slog.Logger) error {
	if len(cfg.Brokers) == 0 {
		return usageError{"--brokers is required"}
	}
	if cfg.DatabaseURL == "" && (cfg.has("sink") || cfg.has("api") || cfg.has("notify")) {
		return usageError{"--database-url (or DATABASE_URL) is required for the sink, notify and api stages"}
	}
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return fmt.Errorf("data_dir: %w", err)
	}
	apiLn, err := listenAPI(cfg)
	if err != nil {
		return err
	}
	if apiLn != nil {
		defer apiLn.Close()
	}
	if err := (listening{HTTP: addrOf(apiLn)}).report(cfg.AddrFile, log); err != nil {
		return err
	}
	if err := ensureTopics(ctx, cfg, cfg.Brokers, log, false); err != nil {
		return err
	}
	p := &pipeline{cfg: cfg, log: log, brokers: cfg.Brokers, dbURL: cfg.DatabaseURL, api: apiLn}
	return p.run(ctx)
}
