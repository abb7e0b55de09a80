package tables

import (
	"fmt"
)

// Topic names.
const (
	RawTopic = "ingest.raw.agent"
	// OTLPTopic takes OTLP metrics (ExportMetricsServiceRequest protobuf,
	// the OpenTelemetry Collector's Kafka exporter's otlp_proto), one
	// request a record, read by the ingest stage beside RawTopic.
	OTLPTopic    = "ingest.otlp.v1"
	SignalsTopic = "signals.metric.v1"
	AlertsTopic  = "ops.alert.v1"
	MetaTopic    = "meta.source.v1"
	DLQTopic     = "ingest.dlq.v1"
	// ActivityTopic carries what people do with alert episodes
	// (acknowledge, assign, note), after PostgreSQL has it, to the alert
	// streams of every replica.
	ActivityTopic = "ops.alert.activity.v1"
)

// Consumer group names, one per stage, and the features group's table.
// goka derives a group's table and loop topics from its name
// (<group>-table, <group>-loop); gokatables has them as goka's types.
const (
	IngestGroup   = "eventops-ingest"
	FeaturesGroup = "eventops-features"
	SinkGroup     = "eventops-sink"
	NotifyGroup   = "eventops-notify"

	FeaturesTable = FeaturesGroup + "-table"
)

// Cleanup policies.
const (
	CleanupDelete  = "delete"
	CleanupCompact = "compact"
)

// TimestampLogAppend is the message.timestamp.type of a topic whose records
// carry the time the broker appended them.
const TimestampLogAppend = "LogAppendTime"

// TopicSpec is one topic EventOps needs.
type TopicSpec struct {
	Name       string
	Partitions int32
	// Configs are the topic-level configs set at creation.
	Configs map[string]string
	// Keyed says the topic is keyed by tenant/host and co-partitioned.
	Keyed bool
}

// Cleanup returns the topic's cleanup policy.
func (t TopicSpec) Cleanup() string { return t.Configs["cleanup.policy"] }

// Layout decides partition counts and retention for every topic.
type Layout struct {
	// Partitions of the co-partitioned topics and of the raw input.
	Partitions int32
	// DLQPartitions of the dead-letter topic.
	DLQPartitions int32
	// RetentionMs of the streams (raw, signals, alerts, dlq, loops).
	RetentionMs int64
}

// DefaultLayout is what `eventops dev` and `eventops topics` use unless told.
func DefaultLayout() Layout {
	return Layout{Partitions: 12, DLQPartitions: 3, RetentionMs: 7 * 24 * 3600 * 1000}
}

// Validate reports the first bad field, naming it.
func (l Layout) Validate() error {
	if l.Partitions < 1 || l.Partitions > 1024 {
		return fmt.Errorf("partitions: %d is out of range 1..1024", l.Partitions)
	}
	if l.DLQPartitions < 1 || l.DLQPartitions > 1024 {
		return fmt.Errorf("dlq_partitions: %d is out of range 1..1024", l.DLQPartitions)
	}
	if l.RetentionMs < 60_000 {
		return fmt.Errorf("retention: %dms is shorter than a minute", l.RetentionMs)
	}
	return nil
}

// Topics lists every topic EventOps uses, goka's group tables and loops
// included, so that one command can create them all.
func (l Layout) Topics() []TopicSpec {
	stream := func(name string, parts int32, keyed bool) TopicSpec {
		return TopicSpec{Name: name, Partitions: parts, Keyed: keyed, Configs: map[string]string{
			"cleanup.policy": CleanupDelete,
			"retention.ms":   fmt.Sprint(l.RetentionMs),
		}}
	}
	table := func(name string) TopicSpec {
		return TopicSpec{Name: name, Partitions: l.Partitions, Keyed: true, Configs: map[string]string{
			"cleanup.policy": CleanupCompact,
			// Compact segments soon so a restart replays little.
			"segment.ms":                "600000",
			"min.cleanable.dirty.ratio": "0.1",
		}}
	}
	raw := stream(RawTopic, l.Partitions, false)
	// The broker stamps each raw record with the time it received it, so
	// that event times are judged against a time that the record carries,
	// is the same on every replay, and comes from no agent's clock.
	raw.Configs["message.timestamp.type"] = TimestampLogAppend
	// The ingest stage reads both inputs in one group: goka gives partition
	// i of each to the same member, so they have as many partitions.
	otlp := stream(OTLPTopic, l.Partitions, false)
	otlp.Configs["message.timestamp.type"] = TimestampLogAppend
	return []TopicSpec{
		raw,
		otlp,
		stream(SignalsTopic, l.Partitions, true),
		stream(AlertsTopic, l.Partitions, true),
		table(MetaTopic),
		stream(DLQTopic, l.DLQPartitions, false),
		// People write a few records a minute: the DLQ's partition count
		// is plenty, and every replica reads all of them.
		stream(ActivityTopic, l.DLQPartitions, false),
		table(FeaturesTable),
	}
}
