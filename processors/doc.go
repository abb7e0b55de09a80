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
package processors
