package tables

import "testing"

func TestSeriesName(t *testing.T) {
	for _, c := range []struct {
		metric string
		tags   Tags
		want   string
	}{
		{"cpu_load", nil, `cpu_load`},
		{"cpu_load", Tags{{"core", "0"}, {"env", "prod"}}, `cpu_load{core="0",env="prod"}`},
		{"m", Tags{{`a=b\`, `"q"`}}, `m{a\=b\\="\"q\""}`},
	} {
		if got := SeriesName(c.metric, c.tags); got != c.want {
			t.Errorf("SeriesName(%s, %v) = %s, want %s", c.metric, c.tags, got, c.want)
		}
	}
	a, b := SeriesID("cpu_load", Tags{{"core", "0"}}), SeriesID("cpu_load", Tags{{"core", "1"}})
	if a == b || a != SeriesID("cpu_load", Tags{{"core", "0"}}) {
		t.Fatalf("series ids %d %d", a, b)
	}
}
