package features

import (
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
	"time"
)

const (
	// bucketsPerWindow is how many buckets of its own level a window spans:
	// a level's bucket width is its window / 30.
	bucketsPerWindow = 30
	// rawPerBucket is how many samples a bucket keeps as exact (ts, value)
	// pairs before it folds them into an aggregate.
	rawPerBucket = 16
	// maxWindows and maxHalfLives bound the state a Config can ask for.
	maxWindows   = 8
	maxHalfLives = 8
	// maxSpan bounds a window or a half-life.
	maxSpan = 31 * 24 * time.Hour
	// maxAbsTs bounds accepted timestamps (ms) so that no arithmetic on
	// them overflows: ±2^53 ms is about ±285,000 years around 1970.
	maxAbsTs = int64(1) << 53
)

// ErrInvalidConfig is wrapped by every error Config.Validate returns.
var ErrInvalidConfig = errors.New("invalid features config")

// Config for one metric's series. A zero field takes its default from
// DefaultConfig: nil Windows, zero Lateness, nil HalfLives. A non-nil empty
// HalfLives means no EWMA.
type Config struct {
	// Windows, ascending. Window i gets its own bucket level of width
	// Windows[i]/30, so each must be a whole number of milliseconds divisible
	// by 30, each level width must be a multiple of the previous one, and
	// consecutive windows must differ by at least the larger one's width.
	Windows []time.Duration
	// Lateness: a sample older than (newest event time - Lateness) is
	// rejected as TooLate. It must not exceed the smallest window, the
	// span of the finest level, so that every accepted sample lands at
	// the finest resolution.
	Lateness time.Duration
	// HalfLives of the event-time EWMAs.
	HalfLives []time.Duration
	// Counter enables counter semantics: increase and counter_rate.
	Counter bool
}

// DefaultConfig: windows 1m, 5m, 15m, 1h; lateness 1m; half-lives 1m, 10m.
func DefaultConfig() Config {
	return Config{
		Windows:   []time.Duration{time.Minute, 5 * time.Minute, 15 * time.Minute, time.Hour},
		Lateness:  time.Minute,
		HalfLives: []time.Duration{time.Minute, 10 * time.Minute},
	}
}

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.Windows == nil {
		c.Windows = d.Windows
	}
	if c.Lateness == 0 {
		c.Lateness = d.Lateness
	}
	if c.HalfLives == nil {
		c.HalfLives = d.HalfLives
	}
	return c
}

// Validate reports whether the config (with defaults filled in) is usable.
func (c Config) Validate() error {
	c = c.withDefaults()
	bad := func(format string, a ...any) error {
		return fmt.Errorf("features: %s: %w", fmt.Sprintf(format, a...), ErrInvalidConfig)
	}
	if len(c.Windows) == 0 || len(c.Windows) > maxWindows {
		return bad("windows: need 1 to %d windows, got %d", maxWindows, len(c.Windows))
	}
	var prevW, prevWidth time.Duration
	for i, w := range c.Windows {
		if w <= 0 || w > maxSpan {
			return bad("windows[%d] = %s: must be in (0, %s]", i, w, maxSpan)
		}
		if w%(bucketsPerWindow*time.Millisecond) != 0 {
			return bad("windows[%d] = %s: must be a multiple of 30ms (30 buckets of whole milliseconds)", i, w)
		}
		width := w / bucketsPerWindow
		if i > 0 {
			if w <= prevW {
				return bad("windows[%d] = %s: windows must be ascending", i, w)
			}
			if width%prevWidth != 0 {
				return bad("windows[%d] = %s: its bucket width %s must be a multiple of the previous width %s", i, w, width, prevWidth)
			}
			if w-prevW < width {
				return bad("windows[%d] = %s: must exceed windows[%d] by at least its bucket width %s", i, w, i-1, width)
			}
		}
		prevW, prevWidth = w, width
	}
	if c.Lateness < time.Millisecond || c.Lateness > c.Windows[0] {
		return bad("lateness = %s: must be in [1ms, %s] (the smallest window)", c.Lateness, c.Windows[0])
	}
	if len(c.HalfLives) > maxHalfLives {
		return bad("half_lives: at most %d, got %d", maxHalfLives, len(c.HalfLives))
	}
	for i, h := range c.HalfLives {
		if h < time.Millisecond || h > maxSpan {
			return bad("half_lives[%d] = %s: must be in [1ms, %s]", i, h, maxSpan)
		}
	}
	return nil
}

// fingerprint identifies the state layout a config implies; encoded states
// carry it so that a state is never decoded under another layout.
func (c Config) fingerprint() uint16 {
	h := fnv.New32a()
	var b []byte
	for _, w := range c.Windows {
		b = strconv.AppendInt(b, int64(w), 10)
		b = append(b, ',')
	}
	b = append(b, '|')
	for _, hl := range c.HalfLives {
		b = strconv.AppendInt(b, int64(hl), 10)
		b = append(b, ',')
	}
	if c.Counter {
		b = append(b, 'c')
	}
	h.Write(b)
	s := h.Sum32()
	return uint16(s ^ s>>16)
}

// WindowLabel formats a duration the way window keys are written: "1m",
// "5m", "1h", "90s", "1h30m", "500ms".
func WindowLabel(d time.Duration) string {
	if d <= 0 {
		return d.String()
	}
	if d%time.Second != 0 {
		if d%time.Millisecond == 0 {
			return strconv.FormatInt(int64(d/time.Millisecond), 10) + "ms"
		}
		return d.String()
	}
	var sb strings.Builder
	units := []struct {
		u time.Duration
		s string
	}{{24 * time.Hour, "d"}, {time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}}
	for _, u := range units {
		if n := d / u.u; n > 0 {
			sb.WriteString(strconv.FormatInt(int64(n), 10))
			sb.WriteString(u.s)
			d -= n * u.u
		}
	}
	return sb.String()
}

// ParseWindow parses a window label: anything time.ParseDuration accepts,
// plus a "d" (24h) unit, e.g. "1m", "15m", "1h", "1d".
func ParseWindow(s string) (time.Duration, error) {
	orig := s
	var days time.Duration
	if i := strings.IndexByte(s, 'd'); i > 0 {
		n, err := strconv.ParseInt(s[:i], 10, 32)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("features: parse window %q: bad day count", orig)
		}
		days = time.Duration(n) * 24 * time.Hour
		s = s[i+1:]
		if s == "" {
			return days, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("features: parse window %q: %w", orig, err)
	}
	if d < 0 || (days > 0 && strings.HasPrefix(s, "-")) {
		return 0, fmt.Errorf("features: parse window %q: negative", orig)
	}
	return days + d, nil
}
