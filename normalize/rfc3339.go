package normalize

import "time"

// parseRFC3339 is the time package's fast path for RFC 3339, which
// time.Parse(time.RFC3339Nano, s) tries before anything else, on bytes: when
// it says ok, time.Parse returns the same instant (in another location,
// which the UTC result of Parse drops); when not, Parse asks time.Parse. It
// spares the common timestamp a string.
func parseRFC3339(s []byte) (time.Time, bool) {
	ok := true
	parseUint := func(s []byte, min, max int) (x int) {
		for _, c := range s {
			if c < '0' || '9' < c {
				ok = false
				return min
			}
			x = x*10 + int(c) - '0'
		}
		if x < min || max < x {
			ok = false
			return min
		}
		return x
	}

	if len(s) < len("2006-01-02T15:04:05") {
		return time.Time{}, false
	}
	year := parseUint(s[0:4], 0, 9999)
	month := parseUint(s[5:7], 1, 12)
	day := parseUint(s[8:10], 1, daysIn(month, year))
	hour := parseUint(s[11:13], 0, 23)
	minute := parseUint(s[14:16], 0, 59)
	sec := parseUint(s[17:19], 0, 59)
	if !ok || !(s[4] == '-' && s[7] == '-' && s[10] == 'T' && s[13] == ':' && s[16] == ':') {
		return time.Time{}, false
	}
	s = s[19:]

	var nsec int
	if len(s) >= 2 && s[0] == '.' && '0' <= s[1] && s[1] <= '9' {
		n := digits(s, 2)
		// As time's parseNanoseconds: nine digits at most count.
		for _, c := range s[1:min(n, 10)] {
			nsec = nsec*10 + int(c-'0')
		}
		for i := min(n, 10); i < 10; i++ {
			nsec *= 10
		}
		s = s[n:]
	}

	t := time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC)
	if len(s) != 1 || s[0] != 'Z' {
		if len(s) != len("-07:00") {
			return time.Time{}, false
		}
		hr := parseUint(s[1:3], 0, 23)
		mm := parseUint(s[4:6], 0, 59)
		if !ok || !((s[0] == '-' || s[0] == '+') && s[3] == ':') {
			return time.Time{}, false
		}
		offset := (hr*60 + mm) * 60
		if s[0] == '-' {
			offset = -offset
		}
		t = t.Add(-time.Duration(offset) * time.Second)
	}
	return t, true
}

func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}
