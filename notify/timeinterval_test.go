package notify

import (
	"testing"
	"time"
)

func TestTimeIntervals(t *testing.T) {
	c, err := Parse([]byte(`
route:
  receiver: ops
  routes:
    - matchers: ['team="db"']
      mute_time_intervals: [weekends, month-end]
    - matchers: ['team="web"']
      active_time_intervals: [office]
receivers: [{name: ops}]
time_intervals:
  - name: weekends
    time_intervals:
      - weekdays: [saturday, sunday]
  - name: month-end
    time_intervals:
      - days_of_month: ['-1']
        times: [{start_time: '22:00', end_time: '24:00'}]
        months: [january, '12']
        years: ['2025:2026']
  - name: office
    time_intervals:
      - weekdays: ['monday:friday']
        times: [{start_time: '09:00', end_time: '17:00'}]
        location: Europe/Berlin
`))
	if err != nil {
		t.Fatal(err)
	}
	db, web := c.Route.Routes[0], c.Route.Routes[1]
	berlin, _ := time.LoadLocation("Europe/Berlin")
	f := func(r *Route, at time.Time, wantMuted bool, wantWhy string, wantUntil time.Time) {
		t.Helper()
		why, muted, until := r.Muted(at)
		if muted != wantMuted || why != wantWhy || !until.Equal(wantUntil) {
			t.Errorf("Muted(%v) = %q %v %v, want %q %v %v", at, why, muted, until, wantWhy, wantMuted, wantUntil)
		}
	}
	// Saturday 2026-01-31, the last day of January, 23:00 UTC.
	sat := time.Date(2026, 1, 31, 23, 0, 0, 0, time.UTC)
	f(db, sat, true, "in mute_time_intervals weekends", time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC))
	// Friday 2026-01-30: not the last day; Thursday 2025-12-31 22:30 is.
	f(db, time.Date(2026, 1, 30, 23, 0, 0, 0, time.UTC), false, "", time.Date(2026, 1, 30, 24, 0, 0, 0, time.UTC))
	f(db, time.Date(2025, 12, 31, 22, 30, 0, 0, time.UTC), true, "in mute_time_intervals month-end", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	f(db, time.Date(2024, 12, 31, 22, 30, 0, 0, time.UTC), false, "", time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	// Office hours are Berlin's: 08:30 UTC on a Monday in winter is 09:30
	// there; 16:30 UTC is 17:30, outside.
	mon := time.Date(2026, 2, 2, 8, 30, 0, 0, time.UTC)
	f(web, mon, false, "", time.Date(2026, 2, 2, 17, 0, 0, 0, berlin))
	f(web, mon.Add(8*time.Hour), true, "outside active_time_intervals office", time.Date(2026, 2, 3, 0, 0, 0, 0, berlin))
	f(web, time.Date(2026, 2, 2, 7, 0, 0, 0, time.UTC), true, "outside active_time_intervals office", time.Date(2026, 2, 2, 9, 0, 0, 0, berlin))
	if _, muted, _ := c.Route.Muted(sat); muted {
		t.Error("the root route is muted")
	}
}
