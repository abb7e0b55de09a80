// Package broker runs the embedded Kafka-protocol broker (franz-go's kfake)
// that `eventops dev` and `eventops broker` use, and creates EventOps's topics
// on any Kafka-compatible broker.
//
// The embedded broker persists everything under its data directory, so a
// restart on the same directory resumes where the last run stopped; it
// compacts compacted topics every CompactionInterval (kfake's own default is
// an hour), and several brokers can run in one process.
//
// EnsureTopics is idempotent: it creates what is missing with the partition
// count, replication and configs of tables.Layout, and reports (without
// changing) an existing topic whose partition count, cleanup policy or
// timestamp type differs, because repartitioning a co-partitioned topic
// moves keys.
//
// The embedded broker honours message.timestamp.type=LogAppendTime (which
// ingest.raw.agent has), as Kafka and Redpanda do: a record appended to such
// a topic carries the time the broker received it. kfake alone does not
// apply the setting; applyLogAppendTime does.
package broker
