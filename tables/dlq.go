package tables

import (
	"strconv"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Headers of a record on ingest.dlq.v1. The value is the rejected input as it
// was received; the key is the key it came with.
const (
	HeaderReason          = "eventops-reason"
	HeaderError           = "eventops-error"
	HeaderStage           = "eventops-stage"
	HeaderOriginTopic     = "eventops-origin-topic"
	HeaderOriginPartition = "eventops-origin-partition"
	HeaderOriginOffset    = "eventops-origin-offset"
	HeaderOriginIndex     = "eventops-origin-index"
)

// Rejection describes one input that goes to the DLQ.
type Rejection struct {
	Stage     string
	Reason    string
	Error     string
	Topic     string
	Partition int32
	Offset    int64
	// Index is the event's position in a record of many, -1 for the record.
	Index int
	Key   []byte
	Value []byte
}

// DLQRecord builds the DLQ record of a rejection.
func DLQRecord(r Rejection) *kgo.Record {
	h := []kgo.RecordHeader{
		{Key: HeaderReason, Value: []byte(r.Reason)},
		{Key: HeaderError, Value: []byte(r.Error)},
		{Key: HeaderStage, Value: []byte(r.Stage)},
		{Key: HeaderOriginTopic, Value: []byte(r.Topic)},
		{Key: HeaderOriginPartition, Value: []byte(strconv.Itoa(int(r.Partition)))},
		{Key: HeaderOriginOffset, Value: []byte(strconv.FormatInt(r.Offset, 10))},
	}
	if r.Index >= 0 {
		h = append(h, kgo.RecordHeader{Key: HeaderOriginIndex, Value: []byte(strconv.Itoa(r.Index))})
	}
	return &kgo.Record{Topic: DLQTopic, Key: r.Key, Value: r.Value, Headers: h}
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
