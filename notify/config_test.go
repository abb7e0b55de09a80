package notify

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// readmeConfig returns the receiver file of the README's "Receivers and
// silences" section.
func readmeConfig(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i := strings.Index(s, "## Receivers and silences")
	if i < 0 {
		t.Fatal("README has no Receivers and silences section")
	}
	m := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindStringSubmatch(s[i:])
	if m == nil {
		t.Fatal("the README section has no yaml block")
	}
	return []byte(m[1])
}

// The README's example loads and routes as it says.
func TestReadmeConfig(t *testing.T) {
	c, err := Parse(readmeConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	if c.ExternalURL != "http://localhost:8088" || c.QueueCapacity != 1000 || len(c.Receivers) != 3 {
		t.Fatalf("config %+v", c)
	}
	oncall := c.Receiver("oncall").Webhooks[0]
	if oncall.MaxAlerts != 20 || oncall.Timeout != 5*time.Second || !oncall.SendResolved {
		t.Fatalf("oncall webhook %+v", oncall)
	}
	if w := c.Receiver("customers").Webhooks[0]; w.SendResolved || w.Timeout != DefaultWebhookTimeout {
		t.Fatalf("customers webhook %+v", w)
	}
	cases := []struct {
		labels string
		want   string // receiver:routeKey:groupWait ...
	}{
		{`alertname=HighCPU,severity=warning,tenant=other`, `ops:{}:30s`},
		{`alertname=HighCPU,severity=critical,tenant=other`, `oncall:{}/{severity="critical"}:10s`},
		{`alertname=HighCPU,severity=critical,tenant=acme`, `oncall:{}/{severity="critical"}:10s customers:{}/{severity!="info",tenant=~"acme|globex"}:30s`},
		{`alertname=HighCPU,severity=info,tenant=acme`, `ops:{}:30s`},
		{`alertname=HighCPU,severity=warning,tenant=globex`, `customers:{}/{severity!="info",tenant=~"acme|globex"}:30s`},
	}
	for _, tc := range cases {
		labels := map[string]string{}
		for _, kv := range strings.Split(tc.labels, ",") {
			k, v, _ := strings.Cut(kv, "=")
			labels[k] = v
		}
		var got []string
		for _, r := range c.Route.Match(labels) {
			got = append(got, r.Receiver+":"+r.Key()+":"+r.Timing.GroupWait.String())
		}
		if g := strings.Join(got, " "); g != tc.want {
			t.Errorf("%s routes to %s, want %s", tc.labels, g, tc.want)
		}
	}
}

func TestRouteInheritanceAndGroups(t *testing.T) {
	c, err := Parse([]byte(`
route:
  receiver: a
  group_by: [alertname, cluster]
  repeat_interval: 1h
  routes:
    - match: {team: db}
      receiver: b
      group_by: ['...']
      routes:
        - matchers: ['severity="critical"']
          receiver: c
          group_interval: 1m
    - match: {team: db}
      group_by: []
    - match_re: {team: 'web|edge'}
receivers: [{name: a}, {name: b}, {name: c}]
`))
	if err != nil {
		t.Fatal(err)
	}
	labels := map[string]string{"alertname": "X", "team": "db", "severity": "critical", "host": "h1", "tenant": "acme"}
	rs := c.Route.Match(labels)
	if len(rs) != 1 {
		t.Fatalf("routes %v", rs)
	}
	r := rs[0]
	if r.Receiver != "c" || !r.GroupByAll || r.Timing != (Timing{DefaultGroupWait, time.Minute, time.Hour}) {
		t.Fatalf("route %+v", r)
	}
	if got := r.GroupKey(r.GroupLabels(labels)); got != `{}/{team="db"}/{severity="critical"}:{alertname="X", host="h1", severity="critical", team="db", tenant="acme"}` {
		t.Fatalf("group key %s", got)
	}
	// The second db route has the same matchers as the first: its key is
	// told apart by its index; group_by: [] groups by tenant only.
	second := c.Route.Routes[1]
	if second.Key() != `{}/{team="db"}/1` || second.Receiver != "a" || len(second.GroupBy) != 0 || second.GroupByAll {
		t.Fatalf("second route %+v key %s", second, second.Key())
	}
	if got := second.GroupKey(second.GroupLabels(labels)); got != `{}/{team="db"}/1:{tenant="acme"}` {
		t.Fatalf("group key %s", got)
	}
	// The root groups by alertname and cluster: only those present count.
	web := map[string]string{"alertname": "Y", "team": "edge", "tenant": "acme"}
	rs = c.Route.Match(web)
	if len(rs) != 1 || rs[0].Key() != `{}/{team=~"web|edge"}` {
		t.Fatalf("routes %v", rs)
	}
	if got := rs[0].GroupKey(rs[0].GroupLabels(web)); got != `{}/{team=~"web|edge"}:{alertname="Y", tenant="acme"}` {
		t.Fatalf("group key %s", got)
	}
}

// Each file in testdata/bad fails with the message of its first line,
// at the line it names (FILE:LINE: message).
func TestBadConfigs(t *testing.T) {
	files, err := filepath.Glob("testdata/bad/*.yml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no bad configs: %v", err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		first, _, _ := strings.Cut(string(b), "\n")
		want, ok := strings.CutPrefix(first, "# want: ")
		if !ok {
			t.Fatalf("%s: first line is not # want: ...", f)
		}
		_, err = Load(f)
		if err == nil {
			t.Errorf("%s loads", f)
			continue
		}
		if !strings.Contains(err.Error(), f+":"+want) && !strings.Contains(err.Error(), f+": "+want) {
			t.Errorf("%s: error %q does not contain %q", f, err, want)
		}
	}
}
