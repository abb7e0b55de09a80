package rules

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"time"
)

// durationUnits are the units of a rule-file duration, largest first. A
// duration is a sequence of <integer><unit> with units in this order, each at
// most once, as in Prometheus ("1h30m", "5m", "90s", "1d", "0").
var durationUnits = []struct {
	name string
	d    time.Duration
}{
	{"y", 365 * 24 * time.Hour},
	{"w", 7 * 24 * time.Hour},
	{"d", 24 * time.Hour},
	{"h", time.Hour},
	{"m", time.Minute},
	{"s", time.Second},
	{"ms", time.Millisecond},
}

var errBadDuration = errors.New(`not a duration (want e.g. "30s", "5m", "1h30m", "1d")`)

// ParseDuration parses a Prometheus-style duration: "0", or integers with the
// units y w d h m s ms in decreasing order ("1h30m"). Negative and fractional
// values are rejected.
func ParseDuration(s string) (time.Duration, error) {
	if s == "0" {
		return 0, nil
	}
	if s == "" {
		return 0, errBadDuration
	}
	var total time.Duration
	next := 0 // index of the smallest unit still allowed
	rest := s
	for rest != "" {
		i := 0
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		if i == 0 || i > 18 {
			return 0, errBadDuration
		}
		n, err := strconv.ParseInt(rest[:i], 10, 64)
		if err != nil {
			return 0, errBadDuration
		}
		rest = rest[i:]
		u := -1
		for j := next; j < len(durationUnits); j++ {
			name := durationUnits[j].name
			// "m" must not swallow the "m" of "ms".
			if strings.HasPrefix(rest, name) && !(name == "m" && strings.HasPrefix(rest, "ms")) {
				u = j
				break
			}
		}
		if u < 0 {
			return 0, errBadDuration
		}
		rest = rest[len(durationUnits[u].name):]
		next = u + 1
		unit := durationUnits[u].d
		if n > int64(math.MaxInt64/unit) || total > math.MaxInt64-time.Duration(n)*unit {
			return 0, errors.New("duration out of range")
		}
		total += time.Duration(n) * unit
	}
	return total, nil
}

// FormatDuration prints d in the notation ParseDuration reads, without the
// "y" unit ("1h30m", "90s" is printed "1m30s", 0 is "0s").
func FormatDuration(d time.Duration) string {
	if d == 0 {
		return "0s"
	}
	var b strings.Builder
	if d < 0 {
		b.WriteByte('-')
		d = -d
	}
	for _, u := range durationUnits[1:] {
		if n := d / u.d; n > 0 {
			b.WriteString(strconv.FormatInt(int64(n), 10))
			b.WriteString(u.name)
			d -= n * u.d
		}
	}
	return b.String()
}
