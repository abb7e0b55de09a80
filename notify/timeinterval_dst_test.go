package notify

import (
	"testing"
	"time"
)

// A window that ends at a wall-clock time a clock change skips (02:30 on
// the night New York springs forward; midnight on the night Santiago
// does) is looked at again when the skip ends, the first moment outside
// the window, not a day later.
func TestTimeIntervalEndSkippedByAClockChange(t *testing.T) {
	c, err := Parse([]byte(`
route:
  receiver: ops
  routes:
    - matchers: ['team="db"']
      mute_time_intervals: [night]
    - matchers: ['team="web"']
      mute_time_intervals: [saturday]
receivers: [{name: ops}]
time_intervals:
  - name: night
    time_intervals:
      - times: [{start_time: '00:00', end_time: '02:30'}]
        location: America/New_York
  - name: saturday
    time_intervals:
      - weekdays: [saturday]
        location: America/Santiago
`))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		route    *Route
		at, want time.Time
	}{
		// 2026-03-08 01:50 EST; 02:00 EST is 03:00 EDT.
		{c.Route.Routes[0], time.Date(2026, 3, 8, 6, 50, 0, 0, time.UTC), time.Date(2026, 3, 8, 7, 0, 0, 0, time.UTC)},
		// Saturday 2026-09-05 23:30 -04; Sunday starts at 01:00 -03.
		{c.Route.Routes[1], time.Date(2026, 9, 6, 3, 30, 0, 0, time.UTC), time.Date(2026, 9, 6, 4, 0, 0, 0, time.UTC)},
	} {
		_, muted, until := tc.route.Muted(tc.at)
		if !muted || !until.Equal(tc.want) {
			t.Errorf("Muted(%v) = %v until %v, want muted until %v", tc.at, muted, until.UTC(), tc.want)
		}
		if _, still, _ := tc.route.Muted(tc.want); still {
			t.Errorf("still muted at %v", tc.want)
		}
	}
}
