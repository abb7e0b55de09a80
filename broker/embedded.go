package broker

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// Options configure the embedded broker.
type Options struct {
	// DataDir persists the broker's logs and groups; empty keeps them in
	// memory.
	DataDir string
	// Ports to listen on, one per broker (default 9092). Port 0 picks one.
	Ports []int
	// CompactionInterval is how often compacted topics are compacted
	// (default 30 s).
	CompactionInterval time.Duration
	// MinSessionTimeout is the shortest consumer group session a member
	// may ask for (default 1 s; kfake's own default is 6 s).
	MinSessionTimeout time.Duration
	// MaxMessageBytes bounds a produce batch (default 16 MiB), so that an
	// oversized record reaches the ingest stage and its DLQ instead of being
	// refused at the door without a trace.
	MaxMessageBytes int
	// SyncWrites fsyncs every produce.
	SyncWrites bool
	Logger     *slog.Logger
}

// Embedded is a running in-process broker cluster.
type Embedded struct {
	c *kfake.Cluster
}

// Start starts the embedded broker.
func Start(opts Options) (*Embedded, error) {
	if len(opts.Ports) == 0 {
		opts.Ports = []int{9092}
	}
	if opts.CompactionInterval <= 0 {
		opts.CompactionInterval = 30 * time.Second
	}
	if opts.MinSessionTimeout <= 0 {
		opts.MinSessionTimeout = time.Second
	}
	if opts.MaxMessageBytes <= 0 {
		opts.MaxMessageBytes = 16 << 20
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	kopts := []kfake.Opt{
		kfake.NumBrokers(len(opts.Ports)),
		kfake.Ports(opts.Ports...),
		kfake.ClusterID("eventops"),
		kfake.GroupMinSessionTimeout(opts.MinSessionTimeout),
		kfake.WithLogger(kfakeLogger{opts.Logger.With("component", "broker")}),
		kfake.BrokerConfigs(map[string]string{
			"log.cleaner.backoff.ms": strconv.FormatInt(opts.CompactionInterval.Milliseconds(), 10),
			"message.max.bytes":      strconv.Itoa(opts.MaxMessageBytes),
		}),
	}
	if opts.DataDir != "" {
		kopts = append(kopts, kfake.DataDir(filepath.Join(opts.DataDir, "broker")))
	}
	if opts.SyncWrites {
		kopts = append(kopts, kfake.SyncWrites())
	}
	c, err := kfake.NewCluster(kopts...)
	if err != nil {
		return nil, fmt.Errorf("broker: start: %w", err)
	}
	applyLogAppendTime(c)
	return &Embedded{c: c}, nil
}

// Addrs returns the brokers' addresses.
func (e *Embedded) Addrs() []string { return e.c.ListenAddrs() }

// Compact compacts every compacted topic now.
func (e *Embedded) Compact() { e.c.Compact() }

// Close stops the brokers, writing their state to the data directory.
func (e *Embedded) Close() { e.c.Close() }

// Run blocks until ctx ends, then closes the broker.
func (e *Embedded) Run(ctx context.Context) error {
	<-ctx.Done()
	e.Close()
	return nil
}

type kfakeLogger struct{ l *slog.Logger }

func (k kfakeLogger) Logf(level kfake.LogLevel, format string, args ...any) {
	var l slog.Level
	switch level {
	case kfake.LogLevelError:
		l = slog.LevelError
	case kfake.LogLevelWarn:
		l = slog.LevelWarn
	case kfake.LogLevelInfo:
		l = slog.LevelDebug
	default:
		return
	}
	k.l.Log(context.Background(), l, fmt.Sprintf(format, args...))
}
