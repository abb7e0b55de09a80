// Package processors holds EventOps's goka processor graphs, one per file:
// ingest (normalize and enrich raw records into signals), features (hand each
// source's signals to its actor), sink (hand rows to the batch writers) and
// notify (hand alert transitions to the notifier). Beside them are the views
// every replica reads outside any consumer group, to serve what the topics
// hold: FeatureView (the features table) and AlertFeed (ops.alert.v1 and
// ops.alert.activity.v1, fed to the API's alert hub). Views hold or forward records; the API shapes
// what it serves.
//
// Invariants:
//   - A callback never fails on input: raw bytes are decoded inside it and bad
//     input goes to the DLQ, because goka stops a processor on a codec error
//     or a panic.
//   - Every stage writes its output with a franz-go producer using the
//     project's partitioner (kgotables.Partitioner) and defers the commit of each
//     input record until everything it caused is durable: output records
//     acknowledged by the broker, feature state flushed to its table, rows
//     committed in PostgreSQL, notifications delivered and recorded.
//     Acknowledgements are released in offset order per partition (Acks),
//     because sarama commits the highest marked offset. The features stage,
//     whose records wait for their source's state flush, does not defer
//     goka's commit (that would keep goka's context of every record, and
//     the fetched batch it lies in, until then): its tracker bounds the
//     partition's marks at the first record not yet durable, through the
//     session's fence, and marks the partition as that moves on.
//   - Each partition gets a fresh tracker per goka session: a partition
//     assigned again never queues behind the leftovers of its last session.
//   - No stage holds a commit past the hand-back grace (Kafka.HandBackGrace,
//     a third of the rebalance timeout by default). goka releases a revoked
//     partition only once every deferred commit of its session is settled,
//     and a member that does not rejoin within the rebalance timeout is
//     evicted. So when a session ends, each partition waits at most the grace
//     for its records' work to become durable; what is not durable by then,
//     and every record a stage did not take (read after its partition began
//     closing, or given up by a callback that waited for room), is handed
//     back: the session's fence (fencedGroup) holds the partition at the
//     first such record, so that sarama commits nothing from there on, and
//     the acknowledgements are released, so that goka stops waiting. The
//     partition's next owner reads those records again; work the old owner
//     finishes late is idempotent (PostgreSQL writes, deduplicated
//     notifications, states at or below their stored offset).
//   - The features stage declares its table with goka.Persist but never
//     calls SetValue: each source actor writes its own state to the table's
//     changelog and the stage keeps its local copy in step (storeNewer).
//     The actors package says why, and what breaks if that changes.
//   - The features stage releases a session only once its partitions' final
//     state flushes are over or the grace passed, also the flushes its
//     timers caused, so that the next owner does not recover a table behind
//     this owner's last write; its Run returns only after them.
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
