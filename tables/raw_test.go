package tables

import (
	"testing"
	"time"
)

// The time of a raw record is the broker's, or HTTP ingest's receive time
// when that is not later; a header never moves it past the broker's clock.
func TestRawRecordTime(t *testing.T) {
	broker := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	f := func(name string, timestamp time.Time, received []byte, want time.Time) {
		t.Helper()
		if got := RawRecordTime(timestamp, received); !got.Equal(want) {
			t.Errorf("%s: got %v, want %v", name, got, want)
		}
	}
	http := broker.Add(-3 * time.Millisecond)
	f("no header", broker, nil, broker)
	f("received by HTTP ingest", broker, ReceivedValue(http), http)
	// The broker's timestamp has milliseconds; HTTP ingest's microseconds.
	sameMilli := broker.Add(900 * time.Microsecond)
	f("received in the broker's millisecond", broker, ReceivedValue(sameMilli), sameMilli)
	f("a header later than the broker", broker, ReceivedValue(broker.Add(time.Hour)), broker)
	f("a header that is no time", broker, []byte("soon"), broker)
	f("a negative header", broker, []byte("-5"), broker)
	f("no timestamp", time.Time{}, ReceivedValue(http), time.Time{})
}

// ingest.raw.agent and ingest.otlp.v1, the external inputs, are the topics
// whose records the broker stamps.
func TestRawTopicTakesTheBrokersTime(t *testing.T) {
	for _, spec := range DefaultLayout().Topics() {
		got, want := spec.Configs["message.timestamp.type"], ""
		if spec.Name == RawTopic || spec.Name == OTLPTopic {
			want = TimestampLogAppend
		}
		if got != want {
			t.Errorf("%s: message.timestamp.type %q, want %q", spec.Name, got, want)
		}
	}
}
