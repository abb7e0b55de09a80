package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/eventops/eventops/pglocal"
	"github.com/eventops/eventops/replica"
)

// runDev runs everything in one process: the embedded broker, PostgreSQL
// (DATABASE_URL, or a private cluster under the data directory), every
// stage and the API.
func runDev(ctx context.Context, cfg *Config, _ []string, log *slog.Logger) error {
	cfg.Stages = replica.Stages()
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
	dbURL, urlFile := cfg.DatabaseURL, ""
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
		dbURL, urlFile = pg.URL(), pg.URLFile()
	}
	opts := replicaOptions(cfg, b.Addrs(), log)
	opts.DatabaseURL, opts.Listener = dbURL, apiLn
	opts.OnReady = func() {
		fmt.Fprint(os.Stderr, devBanner(replica.ExternalURL(addrOf(apiLn)), b.Addrs()[0], dbURL, urlFile, os.Getpid()))
	}
	return runReplica(ctx, cfg, opts, true)
}

// devBanner is what dev prints once it is ready: where everything is, a
// DATABASE_URL to paste (the private cluster's is also kept in urlFile),
// and how to reload and stop. A DATABASE_URL of the user's own is shown
// without its password.
func devBanner(httpURL, kafka, dbURL, urlFile string, pid int) string {
	db := "DATABASE_URL=" + dbURL
	if urlFile == "" {
		db = "DATABASE_URL " + describeDatabase(dbURL) + " (from the environment)"
	} else {
		if wd, err := os.Getwd(); err == nil {
			if rel, err := filepath.Rel(wd, urlFile); err == nil && !strings.HasPrefix(rel, "..") {
				urlFile = rel
			}
		}
		db += "\n              (kept in " + urlFile + ": export DATABASE_URL=$(cat " + urlFile + "))"
	}
	return fmt.Sprintf(`
EventOps dev is ready.
  dashboard   %s/
  API         %s   (the README's curl examples)
  Kafka       %s   (kcat -b %[3]s -t ingest.raw.agent -P)
  PostgreSQL  %s
  Stop with Ctrl-C (or kill -INT %d); reload the rules with kill -HUP %[5]d.

`, httpURL, httpURL, kafka, db, pid)
}

// describeDatabase names the server, user and database of a connection
// string, in whichever form pgx accepts, and nothing else: no password,
// and never the string itself, whose password may hide in a keyword, a
// query parameter or a part a URL parser refuses.
func describeDatabase(dbURL string) string {
	cfg, err := pgconn.ParseConfig(dbURL)
	if err != nil {
		return "(unparsable)"
	}
	return fmt.Sprintf("user %s, database %s at %s", cfg.User, cfg.Database, net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port))))
}

// runRun runs the chosen stages against external brokers and PostgreSQL.
func runRun(ctx context.Context, cfg *Config, _ []string, log *slog.Logger) error {
	if len(cfg.Brokers) == 0 {
		return usageError{"--brokers is required"}
	}
	if cfg.DatabaseURL == "" && (cfg.has(replica.StageSink) || cfg.has(replica.StageAPI) || cfg.has(replica.StageNotify)) {
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
	opts := replicaOptions(cfg, cfg.Brokers, log)
	opts.Listener = apiLn
	return runReplica(ctx, cfg, opts, false)
}
