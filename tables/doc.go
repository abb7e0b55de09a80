// Package tables names everything EventOps keeps on the broker and says how
// it is encoded: topic, group and table names with their partition counts and
// cleanup policies, the source key scheme (tenant/host) and the partitioning
// every producer must follow, the record shapes with their one codec each,
// and the DLQ's rejections.
//
// It imports no Kafka library, so that pure packages (normalize) may use the
// record types. What needs a client's types lives beside it: gokatables
// (names as goka's types, the goka codec, a callback's origin) and kgotables
// (the franz-go partitioner, the DLQ record, record headers).
//
// Invariants:
//   - Every topic name, partition count and config (cleanup policy, the raw
//     topic's broker-stamped timestamps) lives in Topics; nothing else in the
//     project spells a topic name.
//   - A raw record's time is its broker timestamp, or the earlier receive
//     time HTTP ingest put in its HeaderReceived (RawRecordTime).
//   - Co-partitioned topics (signals, alerts, source metadata and the group
//     tables and loops) share one partition count and one partitioner:
//     FNV-1a with sarama's arithmetic, which is goka's default and what kcat
//     does with `-X topic.partitioner=fnv1a_random`.
//   - Internal values carry a leading version byte; decoders reject what they
//     do not understand with an error and never panic.
//   - Every rejected input is described by Reject: the stage that refused it
//     (Stage*), a reason, an error in words, the input it came in (Input)
//     and at most MaxDLQValue bytes of it, cut with a note in the error.
//   - Each record shape has one codec. The alert transition on ops.alert.v1
//     is JSON (users automate from it), written by EncodeAlert and read by
//     DecodeAlert alone: its one validation decides for the sink, the notify
//     stage and the alert stream alike, and the encoder refuses what it
//     refuses.
//   - A series is (tenant, host, metric, tags), tags sorted by key; its name
//     (SeriesName) and ID (SeriesID, which PostgreSQL computes the same
//     way) are the one identity of a series in the state, the rows and the
//     API. A source's state keeps one MetricState per series; states
//     written when there was one per metric still decode (Untagged).
package tables
