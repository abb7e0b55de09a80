package tables

import (
	"strconv"
	"time"
)

// HeaderReceived on a raw record holds when HTTP ingest received its events,
// in Unix microseconds: the time HTTP ingest judged them against, which the
// ingest stage judges them against again.
const HeaderReceived = "eventops-received"

// ReceivedValue is the value of the HeaderReceived header for t.
func ReceivedValue(t time.Time) []byte { return strconv.AppendInt(nil, t.UnixMicro(), 10) }

// RawRecordTime is the time a raw record's events are judged against: its
// broker timestamp (the time the broker received it), or the time its
// HeaderReceived says (received, nil if absent) when that is not later, to
// the millisecond a timestamp has. A header is not trusted further than the
// broker's own clock, so no producer widens the bound on event times with it.
// A zero timestamp (the record has none) stays zero.
func RawRecordTime(timestamp time.Time, received []byte) time.Time {
	if timestamp.IsZero() || received == nil {
		return timestamp
	}
	us, err := strconv.ParseInt(string(received), 10, 64)
	if err != nil || us <= 0 {
		return timestamp
	}
	if t := time.UnixMicro(us); t.UnixMilli() <= timestamp.UnixMilli() {
		return t
	}
	return timestamp
}
