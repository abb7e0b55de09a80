package broker

import (
	"encoding/binary"
	"hash/crc32"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eventops/eventops/tables"
)

// applyLogAppendTime makes the cluster honour a topic's
// message.timestamp.type=LogAppendTime as Kafka and Redpanda do: every
// record appended to such a topic carries the time the broker received it.
// kfake stores the setting without applying it, and the batches it stamps
// itself (those a producer marks as log-append-time) keep their old CRC, so
// consumers refuse them. Instead, each batch bound for such a topic is
// rewritten on its way in: every record's time becomes the broker's clock
// (the batch's first and max timestamps, with no delta), the records are
// stored uncompressed, and the CRC is computed again. Readers see the
// broker's time as a create time. The topic's configs are read on each
// produce request, so a topic created or altered later is honoured at once.
func applyLogAppendTime(c *kfake.Cluster) {
	dec := kgo.DefaultDecompressor()
	c.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		pr, ok := req.(*kmsg.ProduceRequest)
		if !ok {
			return nil, nil, false
		}
		now := time.Now().UnixMilli()
		for i := range pr.Topics {
			t := &pr.Topics[i]
			var info *kfake.TopicInfo
			if t.Topic != "" {
				info = c.TopicInfo(t.Topic)
			} else {
				info = c.TopicIDInfo(t.TopicID)
			}
			if info == nil {
				continue
			}
			if v := info.Configs["message.timestamp.type"]; v == nil || *v != tables.TimestampLogAppend {
				continue
			}
			for j := range t.Partitions {
				if b, ok := stampBatch(t.Partitions[j].Records, now, dec); ok {
					t.Partitions[j].Records = b
				}
			}
		}
		return nil, nil, false
	})
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// stampBatch returns the record batch raw with every record's time set to
// now (Unix ms), uncompressed, with its length and CRC computed again. It
// reports false for what is not one readable batch of magic 2, which is left
// for the broker to refuse.
func stampBatch(raw []byte, now int64, dec kgo.Decompressor) ([]byte, bool) {
	var b kmsg.RecordBatch
	if err := b.ReadFrom(raw); err != nil || b.Magic != 2 || int(b.Length) != len(raw)-12 {
		return nil, false
	}
	recs, err := dec.Decompress(b.Records, kgo.CompressionCodecType(b.Attributes&0x07))
	if err != nil {
		return nil, false
	}
	out := make([]byte, 0, len(recs))
	var scratch []byte
	for range b.NumRecords {
		n, size := binary.Varint(recs)
		if size <= 0 || n < 0 || int64(len(recs)-size) < n {
			return nil, false
		}
		var r kmsg.Record
		if err := r.ReadFrom(recs[:size+int(n)]); err != nil {
			return nil, false
		}
		recs = recs[size+int(n):]
		r.Length, r.TimestampDelta, r.TimestampDelta64 = 0, 0, 0
		scratch = r.AppendTo(scratch[:0])
		body := scratch[1:] // without the one-byte varint of Length 0
		out = binary.AppendVarint(out, int64(len(body)))
		out = append(out, body...)
	}
	b.Attributes &^= 0x07 | 0x08 // no compression, create time
	b.FirstTimestamp, b.MaxTimestamp = now, now
	b.Records = out
	enc := b.AppendTo(nil)
	binary.BigEndian.PutUint32(enc[8:], uint32(len(enc)-12))
	binary.BigEndian.PutUint32(enc[17:], crc32.Checksum(enc[21:], castagnoli))
	return enc, true
}
