package notify

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// TimeInterval is a named time_intervals entry: a set of recurring
// windows (Alertmanager's shape). A time is in the interval when one of
// its ranges contains it.
type TimeInterval struct {
	Name   string
	Ranges []TimeRange
}

// TimeRange is one recurring window: every field that is set must match;
// an unset field matches every time.
type TimeRange struct {
	// Times are [start, end) minutes of the day; 24:00 ends a day.
	Times       []dayRange
	Weekdays    []dayRange // 0 (Sunday) to 6
	DaysOfMonth []dayRange // 1 to 31, or -1 (the last day) to -31
	Months      []dayRange // 1 to 12
	Years       []dayRange
	// Location is the zone the fields are read in (default UTC).
	Location *time.Location
}

// dayRange is an inclusive range of numbers (of minutes: [Start, End)).
type dayRange struct{ Start, End int }

// Contains reports whether t is in the interval.
func (ti *TimeInterval) Contains(t time.Time) bool {
	for i := range ti.Ranges {
		if ti.Ranges[i].Contains(t) {
			return true
		}
	}
	return false
}

// Contains reports whether t is in the range.
func (r *TimeRange) Contains(t time.Time) bool {
	t = t.In(r.loc())
	in := func(rs []dayRange, v int) bool {
		if len(rs) == 0 {
			return true
		}
		for _, x := range rs {
			if v >= x.Start && v <= x.End {
				return true
			}
		}
		return false
	}
	if len(r.Times) > 0 {
		m, ok := t.Hour()*60+t.Minute(), false
		for _, x := range r.Times {
			ok = ok || m >= x.Start && m < x.End
		}
		if !ok {
			return false
		}
	}
	if !in(r.Weekdays, int(t.Weekday())) || !in(r.Months, int(t.Month())) || !in(r.Years, t.Year()) {
		return false
	}
	if len(r.DaysOfMonth) > 0 {
		last := time.Date(t.Year(), t.Month()+1, 0, 0, 0, 0, 0, t.Location()).Day()
		ok := false
		for _, x := range r.DaysOfMonth {
			s, e := x.Start, x.End
			if s < 0 {
				s = last + 1 + s
			}
			if e < 0 {
				e = last + 1 + e
			}
			ok = ok || t.Day() >= s && t.Day() <= e
		}
		if !ok {
			return false
		}
	}
	return true
}

func (r *TimeRange) loc() *time.Location {
	if r.Location == nil {
		return time.UTC
	}
	return r.Location
}

// NextChange returns the first time after t at which whether the interval
// contains the time may change: a start or end of one of its times, or a
// midnight in one of its locations. Between t and it, Contains does not
// change.
func (ti *TimeInterval) NextChange(t time.Time) time.Time {
	var next time.Time
	take := func(c time.Time) {
		if c.After(t) && (next.IsZero() || c.Before(next)) {
			next = c
		}
	}
	for i := range ti.Ranges {
		r := &ti.Ranges[i]
		lt := t.In(r.loc())
		y, mo, d := lt.Date()
		take(wallTime(y, mo, d+1, 0, lt.Location()))
		for _, x := range r.Times {
			take(wallTime(y, mo, d, x.Start, lt.Location()))
			take(wallTime(y, mo, d, x.End, lt.Location()))
		}
	}
	if next.IsZero() {
		next = t.Add(24 * time.Hour)
	}
	return next
}

// wallTime is the first instant at which loc's clock reads minute of the
// day y-mo-d or later: that time, or the end of the clock change that
// skips it (time.Date would give an instant before the skip).
func wallTime(y int, mo time.Month, d, minute int, loc *time.Location) time.Time {
	c := time.Date(y, mo, d, 0, minute, 0, 0, loc)
	want := time.Date(y, mo, d, 0, minute, 0, 0, time.UTC)
	if c.Day() != want.Day() || c.Hour() != want.Hour() || c.Minute() != want.Minute() {
		if _, end := c.ZoneBounds(); end.After(c) {
			return end
		}
	}
	return c
}

// Muted reports whether the route's notifications are muted at now: in
// one of its mute_time_intervals, or outside all of its
// active_time_intervals. why names the interval; until is when to look
// again (the state may change then).
func (r *Route) Muted(now time.Time) (why string, muted bool, until time.Time) {
	var all []*TimeInterval
	for _, ti := range r.MuteIntervals {
		all = append(all, ti)
		if !muted && ti.Contains(now) {
			why, muted = "in mute_time_intervals "+ti.Name, true
		}
	}
	if len(r.ActiveIntervals) > 0 && !muted {
		active := false
		var names []string
		for _, ti := range r.ActiveIntervals {
			active = active || ti.Contains(now)
			names = append(names, ti.Name)
		}
		if !active {
			why, muted = "outside active_time_intervals "+strings.Join(names, ", "), true
		}
	}
	all = append(all, r.ActiveIntervals...)
	for _, ti := range all {
		if c := ti.NextChange(now); until.IsZero() || c.Before(until) {
			until = c
		}
	}
	return why, muted, until
}

// The file's form of an interval.
type rawTimeInterval struct {
	Name          string         `yaml:"name"`
	TimeIntervals []rawTimeRange `yaml:"time_intervals"`
}

type rawTimeRange struct {
	Times []struct {
		StartTime string `yaml:"start_time"`
		EndTime   string `yaml:"end_time"`
	} `yaml:"times"`
	Weekdays    []string `yaml:"weekdays"`
	DaysOfMonth []string `yaml:"days_of_month"`
	Months      []string `yaml:"months"`
	Years       []string `yaml:"years"`
	Location    string   `yaml:"location"`
}

var weekdayNames = map[string]int{"sunday": 0, "monday": 1, "tuesday": 2, "wednesday": 3, "thursday": 4, "friday": 5, "saturday": 6}

var monthNames = map[string]int{"january": 1, "february": 2, "march": 3, "april": 4, "may": 5, "june": 6, "july": 7,
	"august": 8, "september": 9, "october": 10, "november": 11, "december": 12}

// buildTimeRange reads one window; key names it in errors.
func buildTimeRange(raw rawTimeRange, key string, bad func(string, ...any)) TimeRange {
	r := TimeRange{Location: time.UTC}
	if raw.Location != "" {
		loc, err := time.LoadLocation(raw.Location)
		if err != nil {
			bad("%s.location: %q is not a time zone: %v", key, raw.Location, err)
		} else {
			r.Location = loc
		}
	}
	for i, t := range raw.Times {
		s, err1 := clockMinutes(t.StartTime)
		e, err2 := clockMinutes(t.EndTime)
		switch {
		case err1 != nil:
			bad("%s.times[%d].start_time: %v", key, i, err1)
		case err2 != nil:
			bad("%s.times[%d].end_time: %v", key, i, err2)
		case s >= e:
			bad("%s.times[%d]: start_time %s is not before end_time %s", key, i, t.StartTime, t.EndTime)
		default:
			r.Times = append(r.Times, dayRange{s, e})
		}
	}
	lists := []struct {
		in       []string
		out      *[]dayRange
		name     string
		min, max int
		names    map[string]int
	}{
		{raw.Weekdays, &r.Weekdays, "weekdays", 0, 6, weekdayNames},
		{raw.DaysOfMonth, &r.DaysOfMonth, "days_of_month", -31, 31, nil},
		{raw.Months, &r.Months, "months", 1, 12, monthNames},
		{raw.Years, &r.Years, "years", 1, 9999, nil},
	}
	for _, l := range lists {
		for i, s := range l.in {
			x, err := parseRange(s, l.min, l.max, l.names)
			if err == nil && l.name == "days_of_month" && (x.Start == 0 || x.End == 0 || (x.Start > 0) != (x.End > 0)) {
				err = fmt.Errorf("days are 1 to 31 or -31 to -1, both ends of one sign")
			}
			if err != nil {
				bad("%s.%s[%d]: %q: %v", key, l.name, i, s, err)
				continue
			}
			*l.out = append(*l.out, x)
		}
	}
	return r
}

// clockMinutes reads HH:MM (00:00 to 24:00) as minutes of the day.
func clockMinutes(s string) (int, error) {
	h, m, ok := strings.Cut(s, ":")
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if !ok || len(h) != 2 || len(m) != 2 || err1 != nil || err2 != nil || hh < 0 || mm < 0 || mm > 59 || hh*60+mm > 24*60 {
		return 0, fmt.Errorf("%q is not a time of day HH:MM (00:00 to 24:00)", s)
	}
	return hh*60 + mm, nil
}

// parseRange reads "a" or "a:b" (inclusive), numbers or names.
func parseRange(s string, min, max int, names map[string]int) (dayRange, error) {
	num := func(v string) (int, error) {
		if n, ok := names[strings.ToLower(strings.TrimSpace(v))]; ok {
			return n, nil
		}
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < min || n > max {
			return 0, fmt.Errorf("%q is not in %d..%d", v, min, max)
		}
		return n, nil
	}
	a, b, isRange := strings.Cut(s, ":")
	start, err := num(a)
	if err != nil {
		return dayRange{}, err
	}
	end := start
	if isRange {
		if end, err = num(b); err != nil {
			return dayRange{}, err
		}
	}
	if end < start {
		return dayRange{}, fmt.Errorf("the range ends before it starts")
	}
	return dayRange{start, end}, nil
}
