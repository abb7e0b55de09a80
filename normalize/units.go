package normalize

import "strings"

// units maps common spellings to one name. Values are never converted: a
// unit names what the agent measured, and only its spelling is standardized.
var units = map[string]string{
	"%": "percent", "pct": "percent", "percent": "percent", "percentage": "percent",
	"ms": "ms", "msec": "ms", "millisecond": "ms", "milliseconds": "ms",
	"s": "s", "sec": "s", "secs": "s", "second": "s", "seconds": "s",
	"us": "us", "µs": "us", "usec": "us", "microsecond": "us", "microseconds": "us",
	"ns": "ns", "nsec": "ns", "nanosecond": "ns", "nanoseconds": "ns",
	"b": "bytes", "byte": "bytes", "bytes": "bytes",
	"kb": "kb", "kib": "kib", "mb": "mb", "mib": "mib", "gb": "gb", "gib": "gib",
	"count": "count", "ops": "ops", "req/s": "req/s", "rps": "req/s",
	"celsius": "celsius", "°c": "celsius", "degc": "celsius",
	"ratio": "ratio",
}

// Unit standardizes a unit's spelling; an unknown unit is kept, lower-cased.
func Unit(u string) string {
	l := strings.ToLower(strings.TrimSpace(u))
	if c, ok := units[l]; ok {
		return c
	}
	return l
}
