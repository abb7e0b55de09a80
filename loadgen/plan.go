package loadgen

import "time"

// LiveInterval is the event-time spacing at which series series, sent at
// rate events per second, keep their event time at the wall clock, as live
// agents do: every series reports once per interval (at least 1 ms).
func LiveInterval(series int, rate float64) time.Duration {
	return max(time.Duration(float64(series)/rate*float64(time.Second)), time.Millisecond)
}

// Spike is a two-minute CPU spike (cpu_load at 99) on the first source of
// the first tenant from 10 s of event time on, for series reporting every
// interval: long enough to fill the built-in HighCPU rule's one-minute
// average and to outlast a notification's group_wait.
func Spike(interval time.Duration) Anomaly {
	from := int64((10*time.Second + interval - 1) / interval)
	return Anomaly{Source: 0, Metric: 0, From: from, To: from + int64((2*time.Minute+interval-1)/interval), Value: 99}
}
