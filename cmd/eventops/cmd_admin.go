package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"

	"github.com/eventops/eventops/broker"
	"github.com/eventops/eventops/store"
	"github.com/eventops/eventops/tables"
)

func (c *Config) layout() tables.Layout {
	l := tables.DefaultLayout()
	l.Partitions = int32(c.Partitions)
	return l
}

func runTopics(ctx context.Context, cfg *Config, _ []string, log *slog.Logger) error {
	if len(cfg.Brokers) == 0 {
		return usageError{"--brokers is required"}
	}
	return ensureTopics(ctx, cfg, cfg.Brokers, log, true)
}

// ensureTopics creates the missing topics. A replication of 0 becomes the
// brokers' own (AutoReplication), kept in cfg for the rest of the run.
func ensureTopics(ctx context.Context, cfg *Config, brokers []string, log *slog.Logger, verbose bool) error {
	if cfg.Replication == 0 {
		r, err := broker.AutoReplication(ctx, brokers)
		if err != nil {
			return err
		}
		cfg.Replication = int(r)
	}
	reps, err := broker.EnsureTopics(ctx, brokers, cfg.layout(), int16(cfg.Replication))
	if err != nil {
		return err
	}
	for _, r := range reps {
		attrs := []any{"topic", r.Spec.Name, "partitions", r.Spec.Partitions, "replication", r.Replication, "cleanup", r.Spec.Cleanup()}
		switch {
		case r.Mismatch != "":
			log.Warn("topic differs from the layout (left as is)", append(attrs, "mismatch", r.Mismatch)...)
		case r.Created:
			log.Info("topic created", attrs...)
		case verbose:
			log.Info("topic exists", attrs...)
		}
	}
	return nil
}

func runMigrate(ctx context.Context, cfg *Config, _ []string, log *slog.Logger) error {
	if cfg.DatabaseURL == "" {
		return usageError{"--database-url (or DATABASE_URL) is required"}
	}
	db, err := store.Open(ctx, store.Options{URL: cfg.DatabaseURL, Logger: log})
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.Migrate(ctx); err != nil {
		return err
	}
	v, err := db.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	log.Info("schema is up to date", "version", v)
	return nil
}

// brokerPorts returns the ports of n brokers from kafka_addr's port on.
func brokerPorts(addr string, n int) ([]int, error) {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("kafka_addr: %w", err)
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		return nil, fmt.Errorf("kafka_addr: port %q is not a number", port)
	}
	ports := make([]int, n)
	for i := range ports {
		ports[i] = p
		if p != 0 {
			ports[i] = p + i
		}
	}
	return ports, nil
}

func startBroker(cfg *Config, n int, log *slog.Logger) (*broker.Embedded, error) {
	ports, err := brokerPorts(cfg.KafkaAddr, n)
	if err != nil {
		return nil, err
	}
	b, err := broker.Start(broker.Options{DataDir: cfg.DataDir, Ports: ports, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("kafka_addr: %w", err)
	}
	log.Info("embedded broker started", "brokers", n, "data", filepath.Join(cfg.DataDir, "broker"))
	return b, nil
}

// brokerCommand is `eventops broker`.
func brokerCommand() command {
	return command{
		name: "broker", summary: "run the embedded broker as its own process (persisting under data_dir)",
		keys: []string{"data_dir", "kafka_addr", "addr_file", "num_brokers", "partitions", "replication"},
		run:  runBroker,
	}
}

func runBroker(ctx context.Context, cfg *Config, _ []string, log *slog.Logger) error {
	b, err := startBroker(cfg, cfg.NumBrokers, log)
	if err != nil {
		return err
	}
	if err := (listening{Kafka: b.Addrs()}).report(cfg.AddrFile, log); err != nil {
		b.Close()
		return err
	}
	if err := ensureTopics(ctx, cfg, b.Addrs(), log, false); err != nil {
		b.Close()
		return err
	}
	<-ctx.Done()
	log.Info("stopping the embedded broker")
	b.Close()
	return nil
}
