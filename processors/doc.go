// Package processors holds EventOps's goka processor graphs, one per file:
// ingest (normalize and enrich raw records into signals), features (hand each
// source's signals to its actor) and sink (hand rows to the batch writers).
//
// Invariants:
//   - A callback never fails on input: raw bytes are decoded inside it and bad
//     input goes to the DLQ, because goka stops a processor on a codec error
//     or a panic.
//   - Every stage writes its output with a franz-go producer using the
//     project's partitioner (tables.Partitioner) and defers the commit of each
//     input record until everything it caused is durable: output records
//     acknowledged by the broker, feature state flushed to its table, rows
//     committed in PostgreSQL. Acknowledgements are released in offset order
//     per partition (Acks), because sarama commits the highest marked offset.
//   - Callbacks stay short: the work belongs to normalize, features, rules and
//     the actors.
//   - The ingest stage judges a raw record by the record alone: its event
//     times against the record's time (the broker's timestamp, or the receive
//     time HTTP ingest put in a header), never the wall clock, so a replay
//     judges it the same way; the signal carries that time as IngestMicro.
//     Records are never joined: each one is whole or goes to the DLQ, so the
//     stage holds no record waiting for another.
//   - What the ingest stage writes for the records of one raw partition
//     leaves in the order the records were read, also when the broker
//     refuses a record for good and it is sent again (orderedProducer): the
//     features stage takes a signal whose origin is not past its source's
//     mark for that raw partition for a replay.
package processors
