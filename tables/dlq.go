package tables

import "fmt"

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

// Stages, as the DLQ's HeaderStage and the stage label of metrics and logs
// name them.
const (
	StageIngest   = "ingest"
	StageFeatures = "features"
	StageSink     = "sink"
	StageNotify   = "notify"
	// StageAPI refuses what the HTTP routes of OTLP, remote-write and
	// Influx line protocol cannot take.
	StageAPI = "api"
)

// Reasons of the inputs that their codec refuses.
const (
	ReasonUndecodableSignal = "undecodable_signal"
	ReasonUndecodableAlert  = "undecodable_alert"
)

// MaxDLQValue bounds the copy of a rejected input kept in the DLQ; the rest
// is cut and the error says so.
const MaxDLQValue = 256 << 10

// Input names a record a stage read, as its DLQ record names its origin:
// topic, partition, offset and key. Partition and Offset are -1 when the
// input is known by its topic and key alone.
type Input struct {
	Topic     string
	Partition int32
	Offset    int64
	Key       []byte
}

// SourceInput names an input of source tenant/host on topic whose record is
// not known: a row the store refused, taken from a batch.
func SourceInput(topic, tenant, host string) Input {
	return Input{Topic: topic, Partition: -1, Offset: -1, Key: []byte(SourceKey(tenant, host))}
}

// RawInput names the raw record a signal's samples came from (its Origin).
func (s *Signal) RawInput() Input {
	return Input{Topic: RawTopic, Partition: s.Origin.Partition, Offset: s.Origin.Offset, Key: []byte(s.Key())}
}

// Rejection describes one input that goes to the DLQ. Reject makes it.
type Rejection struct {
	Stage  string
	Reason string
	Error  string
	Input
	// Index is the event's position in a record of many, -1 for the record.
	Index int
	Value []byte
}

// Reject describes value, all or part of input in, that stage refused for
// reason; why says it in words. At most MaxDLQValue bytes of value are kept.
func Reject(stage, reason, why string, in Input, value []byte) Rejection {
	if len(value) > MaxDLQValue {
		why += fmt.Sprintf(" (the value is cut to its first %d of %d bytes)", MaxDLQValue, len(value))
		value = value[:MaxDLQValue]
	}
	return Rejection{Stage: stage, Reason: reason, Error: why, Input: in, Index: -1, Value: value}
}

// Event says that the rejected value is the event at index of the record.
func (r Rejection) Event(index int) Rejection {
	r.Index = index
	return r
}
