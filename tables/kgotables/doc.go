// Package kgotables is tables for franz-go (kgo): the partitioner of every
// franz-go producer, the DLQ record of a tables.Rejection, the header HTTP
// ingest stamps on raw records, and reading a record's headers.
//
// Invariants:
//   - Partitioner places a key where tables.Partition does, which is where
//     goka's producers place it: a record written by franz-go to a
//     co-partitioned topic is read by the goka processor that owns its key.
//   - DLQRecord writes every rejection alike: the value and key as
//     tables.Reject kept them, and the reason, error, stage and origin
//     (topic, partition, offset, and the event's index when it was one of
//     many) as the tables.Header* headers.
//   - It holds no names, shapes or codecs of its own: those are in tables,
//     which imports no Kafka library.
package kgotables
