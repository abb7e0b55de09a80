// Package gokatables is tables for goka: the group, stream and table names
// as goka's types, the codec the stages read with, and the origin of the
// record a callback processes.
//
// Invariants:
//   - Every name here is a tables name under goka's type; nothing here
//     spells a topic or group of its own. FeaturesTable is the table goka
//     derives from FeaturesGroup.
//   - Stages read with BytesCodec and decode inside their callbacks with
//     tables' decoders, because goka stops a processor when a codec fails:
//     what does not decode goes to the DLQ instead (tables.Reject, with the
//     origin Input names), and the processor goes on.
//   - It holds no shapes or encodings of its own: those are in tables, which
//     imports no Kafka library.
package gokatables
