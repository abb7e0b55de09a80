package kgotables

import (
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eventops/eventops/tables"
)

// Partitioner is the franz-go partitioner that every franz-go producer of the
// project uses, so that its records land where goka reads them
// (tables.Partition).
func Partitioner() kgo.Partitioner {
	return kgo.StickyKeyPartitioner(kgo.SaramaCompatHasher(tables.KeyHash))
}

// DLQRecord is the record of a rejection on ingest.dlq.v1: the rejected
// value under its key, and its reason, error, stage and origin in headers
// (the index only for an event of a record of many).
func DLQRecord(r tables.Rejection) *kgo.Record {
	h := []kgo.RecordHeader{
		{Key: tables.HeaderReason, Value: []byte(r.Reason)},
		{Key: tables.HeaderError, Value: []byte(r.Error)},
		{Key: tables.HeaderStage, Value: []byte(r.Stage)},
		{Key: tables.HeaderOriginTopic, Value: []byte(r.Topic)},
		{Key: tables.HeaderOriginPartition, Value: []byte(strconv.Itoa(int(r.Partition)))},
		{Key: tables.HeaderOriginOffset, Value: []byte(strconv.FormatInt(r.Offset, 10))},
	}
	if r.Index >= 0 {
		h = append(h, kgo.RecordHeader{Key: tables.HeaderOriginIndex, Value: []byte(strconv.Itoa(r.Index))})
	}
	return &kgo.Record{Topic: tables.DLQTopic, Key: r.Key, Value: r.Value, Headers: h}
}

// ReceivedHeader is the tables.HeaderReceived header for t.
func ReceivedHeader(t time.Time) kgo.RecordHeader {
	return kgo.RecordHeader{Key: tables.HeaderReceived, Value: tables.ReceivedValue(t)}
}

// Header returns the value of a record header, "" if absent.
func Header(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}
