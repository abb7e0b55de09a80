package processors

import (
	"context"
	"fmt"
	"hash"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
	"github.com/lovoo/goka/storage"
	"github.com/syndtr/goleveldb/leveldb/opt"
)

// Kafka says how processors reach the broker and keep their local state.
type Kafka struct {
	Brokers []string
	// ClientID names this replica to the broker.
	ClientID string
	// Replication of the topics goka would create (1 on a single broker).
	Replication int
	// DataDir holds goka's local table storage (LevelDB), one per replica.
	DataDir string
	// SessionTimeout and HeartbeatInterval decide how fast a dead member is
	// noticed; RebalanceTimeout how long a rebalance may take. The rebalance
	// timeout must stay far from the 5 s goka waits before rejoining.
	SessionTimeout    time.Duration
	HeartbeatInterval time.Duration
	RebalanceTimeout  time.Duration
	// HandBackGrace is how long a stage whose partition is revoked, or
	// which stops, waits for the work of the records it read to become
	// durable; what is not durable by then is handed back: left
	// uncommitted for the partition's next owner to read again (default: a
	// third of RebalanceTimeout). goka releases a partition only once its
	// deferred commits are settled, and a member that has not rejoined
	// within the rebalance timeout is evicted from the group, so the grace
	// must stay well below the rebalance timeout.
	HandBackGrace time.Duration
	// BatchBytes bounds the record batches the stages' producers write:
	// the smallest max.message.bytes of the topics they write (default
	// 1 MiB, Kafka's and Redpanda's default; see NewProducer).
	BatchBytes int
	Logger     *slog.Logger
	// sessions, when set, learns of every session goka sets up (the
	// features stage wakes its sources from it).
	sessions *sessionLog
	// opened, when set, records the clients the builders open.
	opened *openClients
}

// DefaultBatchBytes is the batch bound when the brokers' is not known:
// Kafka's and Redpanda's default max.message.bytes.
const DefaultBatchBytes = 1048588

// Defaults fills zero fields.
func (k Kafka) Defaults() Kafka {
	if k.ClientID == "" {
		k.ClientID = "eventops"
	}
	if k.Replication <= 0 {
		k.Replication = 1
	}
	if k.SessionTimeout <= 0 {
		k.SessionTimeout = 10 * time.Second
	}
	if k.HeartbeatInterval <= 0 {
		k.HeartbeatInterval = time.Second
	}
	if k.RebalanceTimeout <= 0 {
		k.RebalanceTimeout = 30 * time.Second
	}
	if k.HandBackGrace <= 0 {
		k.HandBackGrace = k.RebalanceTimeout / 3
	}
	if k.BatchBytes <= 0 {
		k.BatchBytes = DefaultBatchBytes
	}
	if k.Logger == nil {
		k.Logger = slog.Default()
	}
	return k
}

// Sarama returns the sarama configuration of every goka part.
func (k Kafka) Sarama() *sarama.Config {
	k = k.Defaults()
	c := goka.DefaultConfig()
	c.ClientID = k.ClientID
	c.Version = sarama.V2_8_0_0
	// Streams are read from the start when a group first appears, so records
	// written before the first start are not skipped.
	c.Consumer.Offsets.Initial = sarama.OffsetOldest
	c.Consumer.Offsets.AutoCommit.Interval = 500 * time.Millisecond
	c.Consumer.Group.Session.Timeout = k.SessionTimeout
	c.Consumer.Group.Heartbeat.Interval = k.HeartbeatInterval
	c.Consumer.Group.Rebalance.Timeout = k.RebalanceTimeout
	// A JoinGroup answer may take the whole rebalance timeout: a read must
	// be allowed to wait longer, or the member gives up mid-rebalance.
	c.Net.ReadTimeout = k.RebalanceTimeout + 30*time.Second
	c.Net.DialTimeout = 10 * time.Second
	// What a consumer holds fetched is a fetch response of up to
	// Fetch.Default per partition (compressed: decoded, it is several
	// times that), and ChannelBufferSize records per partition decoded
	// but not yet handed to goka, for every partition of every stage and
	// view. A consumer fetches again only once every partition's records
	// of the last response are in its buffer, so the buffer is the work
	// that overlaps the next fetch: 256 records (sarama's default) keep a
	// stage busy through a fetch on a loaded machine, where 64 let the
	// stages fall behind at half their rate. 256 KiB (a few thousand
	// records of 100-300 bytes) is what bounds the memory: not hundreds
	// of megabytes of fetched batches while a backlog drains.
	c.Consumer.Fetch.Default = 256 << 10
	c.Consumer.MaxWaitTime = 100 * time.Millisecond
	c.ChannelBufferSize = 256
	// goka's own producer writes little (we produce with franz-go); keep
	// its latency low for what it does write.
	c.Producer.Flush.Frequency = 2 * time.Millisecond
	c.Producer.RequiredAcks = sarama.WaitForAll
	c.Metadata.RefreshFrequency = time.Minute
	return c
}

// TopicManager returns goka's topic manager configuration.
func (k Kafka) topicManagerConfig() *goka.TopicManagerConfig {
	k = k.Defaults()
	tm := goka.NewTopicManagerConfig()
	tm.Table.Replication = k.Replication
	tm.Stream.Replication = k.Replication
	tm.MismatchBehavior = goka.TMConfigMismatchBehaviorWarn
	tm.Logger = nil
	return tm
}

// The builders below make a sarama configuration per client: goka's own
// ...WithConfig builders write the client ID into one shared configuration
// while other clients read it.

func (k Kafka) topicManagerBuilder() goka.TopicManagerBuilder {
	return func(brokers []string) (goka.TopicManager, error) {
		tm, err := goka.NewTopicManager(brokers, k.Sarama(), k.topicManagerConfig())
		if err == nil {
			k.opened.add(tm)
		}
		return tm, err
	}
}

// consumerGroupBuilder builds goka's consumer group, fenced: see
// fencedGroup.
func (k Kafka) consumerGroupBuilder() goka.ConsumerGroupBuilder {
	k = k.Defaults()
	return func(brokers []string, group, clientID string) (sarama.ConsumerGroup, error) {
		cfg := k.Sarama()
		cfg.ClientID = clientID
		g, err := sarama.NewConsumerGroup(brokers, group, cfg)
		if err != nil {
			return nil, err
		}
		return fencedGroup{ConsumerGroup: g, grace: k.HandBackGrace, log: k.Logger.With("group", group), sessions: k.sessions}, nil
	}
}

func (k Kafka) consumerBuilder() goka.SaramaConsumerBuilder {
	return func(brokers []string, clientID string) (sarama.Consumer, error) {
		cfg := k.Sarama()
		cfg.ClientID = clientID
		c, err := sarama.NewConsumer(brokers, cfg)
		if err == nil {
			k.opened.add(c)
		}
		return c, err
	}
}

func (k Kafka) producerBuilder() goka.ProducerBuilder {
	return func(brokers []string, clientID string, hasher func() hash.Hash32) (goka.Producer, error) {
		cfg := k.Sarama()
		cfg.ClientID = clientID
		cfg.Producer.Partitioner = sarama.NewCustomHashPartitioner(hasher)
		return goka.NewProducer(brokers, cfg)
	}
}

// ProcessorOptions returns the goka options every processor uses.
func (k Kafka) ProcessorOptions() []goka.ProcessorOption {
	k = k.Defaults()
	opts := []goka.ProcessorOption{
		goka.WithClientID(k.ClientID),
		goka.WithTopicManagerBuilder(k.topicManagerBuilder()),
		goka.WithConsumerGroupBuilder(k.consumerGroupBuilder()),
		goka.WithConsumerSaramaBuilder(k.consumerBuilder()),
		goka.WithProducerBuilder(k.producerBuilder()),
		goka.WithLogger(GokaLogger(k.Logger)),
		goka.WithBackoffResetTimeout(time.Minute),
		// A record without a value (a tombstone) is input like any other:
		// goka's default would drop it and commit past the records before
		// it whose work is not durable yet.
		goka.WithNilHandling(goka.NilProcess),
	}
	return append(opts, goka.WithStorageBuilder(k.storageBuilder()))
}

// storageBuilder builds the local storage of a processor's tables: LevelDB
// under DataDir, or memory without one.
func (k Kafka) storageBuilder() storage.Builder {
	if k.DataDir != "" {
		return storage.BuilderWithOptions(filepath.Join(k.DataDir, "goka"), tableStorageOptions())
	}
	return storage.MemoryBuilder()
}

// tableStorageOptions size the LevelDB of one partition of a table. Every
// partition of every table and view a replica reads has its own, so
// LevelDB's defaults (a 4 MiB write buffer, allocated up front and kept
// twice, and an 8 MiB block cache) cost tens of megabytes per table. A
// table partition takes a few hundred kilobytes of state writes a second
// at most (state is flushed every flush_interval, not per event): a
// 512 KiB buffer is written out every few seconds under full load, into
// tables compacted as LevelDB does anyway. Reads are of one key on a
// source's first signal after it left memory, and of the features API:
// a small cache serves them.
func tableStorageOptions() *opt.Options {
	return &opt.Options{
		WriteBuffer:        512 << 10,
		BlockCacheCapacity: 1 << 20,
	}
}

// ViewOptions returns the goka options of a view (a whole table, read-only).
func (k Kafka) ViewOptions(name string) []goka.ViewOption {
	k = k.Defaults()
	opts := []goka.ViewOption{
		goka.WithViewClientID(k.ClientID),
		goka.WithViewTopicManagerBuilder(k.topicManagerBuilder()),
		goka.WithViewConsumerSaramaBuilder(k.consumerBuilder()),
		goka.WithViewLogger(GokaLogger(k.Logger)),
		goka.WithViewAutoReconnect(),
	}
	if k.DataDir != "" {
		opts = append(opts, goka.WithViewStorageBuilder(storage.BuilderWithOptions(filepath.Join(k.DataDir, "views", name), tableStorageOptions())))
	} else {
		opts = append(opts, goka.WithViewStorageBuilder(storage.MemoryBuilder()))
	}
	return opts
}

// GokaLogger routes goka's and sarama's logging into slog at debug level,
// and what reads like a problem at warn.
func GokaLogger(l *slog.Logger) goka.Logger { return gokaLogger{l} }

type gokaLogger struct{ l *slog.Logger }

func (g gokaLogger) log(msg string) {
	msg = strings.TrimSpace(msg)
	level := slog.LevelDebug
	lower := strings.ToLower(msg)
	if strings.Contains(lower, "error") || strings.Contains(lower, "fail") {
		level = slog.LevelWarn
	}
	g.l.Log(context.Background(), level, msg, "component", "goka")
}

func (g gokaLogger) Print(v ...any)                 { g.log(fmt.Sprint(v...)) }
func (g gokaLogger) Println(v ...any)               { g.log(fmt.Sprintln(v...)) }
func (g gokaLogger) Printf(format string, v ...any) { g.log(fmt.Sprintf(format, v...)) }
