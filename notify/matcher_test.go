package notify

import (
	"strings"
	"testing"
	"time"
)

func TestParseMatchers(t *testing.T) {
	cases := []struct {
		in   string
		want string // canonical strings joined by " ; ", or "error: ..." substring
	}{
		{`severity="critical"`, `severity="critical"`},
		{`severity=critical`, `severity="critical"`},
		{` severity = critical `, `severity="critical"`},
		{`{team=~"db|infra", env!=dev}`, `team=~"db|infra" ; env!="dev"`},
		{`host!~"web-[0-9]+",alertname="HighCPU",`, `host!~"web-[0-9]+" ; alertname="HighCPU"`},
		{`msg="say \"hi\"\n"`, `msg="say \"hi\"\n"`},
		{`empty=""`, `empty=""`},
		{`a="x,y"`, `a="x,y"`},
		{``, `error: no matcher`},
		{`{}`, `error: no matcher`},
		{`{a="b"`, `error: missing closing brace`},
		{`a~b`, `error: expected =, !=, =~ or !~ after a`},
		{`="b"`, `error: expected a label name at offset 0`},
		{`1a="b"`, `error: bad label name "1a"`},
		{`a="b`, `error: unterminated quoted value of a`},
		{`a="b" c="d"`, `error: expected a comma at offset 6`},
		{`a=~"(b"`, `error: bad regular expression for a`},
		{`a=b"c`, `error: bare value of a holds a quote or brace: quote it`},
	}
	for _, c := range cases {
		ms, err := ParseMatchers(c.in)
		if strings.HasPrefix(c.want, "error: ") {
			if err == nil || !strings.Contains(err.Error(), strings.TrimPrefix(c.want, "error: ")) {
				t.Errorf("ParseMatchers(%q) = %v, %v; want error %q", c.in, ms, err, c.want)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseMatchers(%q): %v", c.in, err)
			continue
		}
		if got := strings.Join(ms.Strings(), " ; "); got != c.want {
			t.Errorf("ParseMatchers(%q) = %s, want %s", c.in, got, c.want)
		}
	}
}

func TestMatchersMatch(t *testing.T) {
	labels := map[string]string{"alertname": "HighCPU", "host": "web-12", "severity": "critical", "tenant": "acme"}
	cases := []struct {
		m    string
		want bool
	}{
		{`alertname="HighCPU"`, true},
		{`alertname="highcpu"`, false},
		{`alertname!="HighCPU"`, false},
		{`host=~"web-[0-9]+"`, true},
		{`host=~"web"`, false}, // anchored
		{`host!~"db-.*"`, true},
		{`team=""`, true},   // a missing label is ""
		{`team!=""`, false}, // ...
		{`team=~".*"`, true},
		{`severity=~"critical|warning", tenant="acme"`, true},
		{`severity=~"critical|warning", tenant="other"`, false},
	}
	for _, c := range cases {
		ms, err := ParseMatchers(c.m)
		if err != nil {
			t.Fatal(err)
		}
		if got := ms.Matches(labels); got != c.want {
			t.Errorf("%s on %v = %v, want %v", c.m, labels, got, c.want)
		}
	}
	for m, want := range map[string]bool{`a=""`: true, `a=~".*"`: true, `a!="x"`: true, `a="x"`: false, `a=~".+"`: false, `a=~".*", b="y"`: false} {
		ms, _ := ParseMatchers(m)
		if got := ms.MatchesEverything(); got != want {
			t.Errorf("%s matches everything = %v, want %v", m, got, want)
		}
	}
}

func TestSilences(t *testing.T) {
	ms, _ := ParseMatchers(`alertname="HighCPU", host=~"web-.*"`)
	s := Silence{ID: "s1", Matchers: ms, StartsAt: t0, EndsAt: t0.Add(time.Hour)}
	web := map[string]string{"alertname": "HighCPU", "host": "web-1"}
	db := map[string]string{"alertname": "HighCPU", "host": "db-1"}
	cases := []struct {
		labels map[string]string
		at     time.Duration
		want   bool
	}{
		{web, -time.Second, false}, // not started
		{web, 0, true},             // starts_at is included
		{web, 59 * time.Minute, true},
		{web, time.Hour, false}, // ends_at is not
		{db, time.Minute, false},
	}
	for _, c := range cases {
		if got := s.Mutes(c.labels, t0.Add(c.at)); got != c.want {
			t.Errorf("mutes %v at %s = %v, want %v", c.labels, c.at, got, c.want)
		}
	}
	other, _ := ParseMatchers(`host="db-1"`)
	all := []Silence{s, {ID: "s2", Matchers: other, StartsAt: t0, EndsAt: t0.Add(time.Minute)}}
	if got := Muted(all, db, t0); len(got) != 1 || got[0] != "s2" {
		t.Errorf("Muted = %v", got)
	}
}

// Parsing the canonical form of parsed matchers gives the same matchers.
func FuzzParseMatchers(f *testing.F) {
	for _, s := range []string{`a="b"`, `{a=~"x|y", b!=c}`, `a!~"\\d+"`, `a="\u00e9\n"`, `a=b,`, `x`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ms, err := ParseMatchers(s)
		if err != nil {
			return
		}
		again, err := ParseMatchers(strings.Join(ms.Strings(), ","))
		if err != nil {
			t.Fatalf("canonical form of %q does not parse: %v", s, err)
		}
		if a, b := strings.Join(ms.Strings(), ","), strings.Join(again.Strings(), ","); a != b {
			t.Fatalf("%q: %s != %s", s, a, b)
		}
		for i := range ms {
			for _, v := range []string{"", "x", ms[i].Value} {
				if ms[i].Matches(v) != again[i].Matches(v) {
					t.Fatalf("%q: %s and %s disagree on %q", s, ms[i], again[i], v)
				}
			}
		}
	})
}
