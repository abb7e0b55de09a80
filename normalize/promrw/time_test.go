package promrw_test

import (
	"testing"

	"github.com/prometheus/prometheus/prompb"

	"github.com/eventops/eventops/normalize"
	"github.com/eventops/eventops/normalize/promrw"
)

// A sample's millisecond timestamp so large that it has no nanosecond time
// (beyond the year 2262) must not wrap around onto a time that is kept: this
// one would wrap exactly onto the sample time of the other tests.
func TestTimestampBeyondNanosecondsIsNotKept(t *testing.T) {
	far := ms + 1<<58 // far*1e6 ≡ ms*1e6 modulo 2^64
	for _, ts := range []int64{far, -far} {
		req := &prompb.WriteRequest{Timeseries: []prompb.TimeSeries{{
			Labels:  pairs("__name__", "up", "instance", "web-1"),
			Samples: []prompb.Sample{{Value: 1, Timestamp: ts}},
		}}}
		d, _ := promrw.DecodeV1(req, promrw.Options{Tenant: "acme"})
		res := normalize.Options{}.Judge(d, received)
		if len(res.Events) != 0 {
			t.Fatalf("timestamp %d ms was kept as %d µs", ts, res.Events[0].Sample.TsMicro)
		}
		if len(res.Rejected) != 1 {
			t.Fatalf("timestamp %d ms: %d rejections, want 1", ts, len(res.Rejected))
		}
	}
}

// A sample at the epoch (timestamp 0) is at the epoch, not at the time the
// request was received: a resent request must not store it a second time
// at another time.
func TestTimestampZeroIsTheEpoch(t *testing.T) {
	req := &prompb.WriteRequest{Timeseries: []prompb.TimeSeries{{
		Labels:  pairs("__name__", "up", "instance", "web-1"),
		Samples: []prompb.Sample{{Value: 1, Timestamp: 0}},
	}}}
	d, _ := promrw.DecodeV1(req, promrw.Options{Tenant: "acme"})
	res := normalize.Options{}.Judge(d, received)
	if len(res.Events) != 0 {
		t.Fatalf("timestamp 0 was kept as %d µs (received %d)", res.Events[0].Sample.TsMicro, received.UnixMicro())
	}
}
