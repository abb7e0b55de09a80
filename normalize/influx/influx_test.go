package influx_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/eventops/eventops/normalize"
	"github.com/eventops/eventops/normalize/influx"
)

var received = time.Date(2025, 10, 21, 10, 0, 0, 0, time.UTC)

func events(res normalize.Result) []string {
	var out []string
	for _, e := range res.Events {
		out = append(out, fmt.Sprintf("%s/%s %s %v=%g @%s", e.Tenant, e.Host, e.Sample.Metric, e.Sample.Tags.Map(), e.Sample.Value,
			received.Sub(time.UnixMicro(e.Sample.TsMicro))))
	}
	return out
}

func TestDecode(t *testing.T) {
	sec := received.Add(-time.Minute).Unix()
	body := strings.Join([]string{
		fmt.Sprintf(`cpu,host=web-1,cpu=cpu0 usage_idle=92.5,usage_user=3i,online=true %d`, sec*1e9),
		`# a comment`,
		``,
		fmt.Sprintf(`disk\ space,host=db-1,path=/var\ log\,x\=1 used_percent=71.5,free=12u,fstype="ext4" %d`, sec*1e9),
		`mem,host=web-1 value=1`,
		`broken line without fields`,
		fmt.Sprintf(`net,region=eu bytes_recv=10i %d`, sec*1e9),
		`system,host=web-1 uptime_format="1 day"`,
	}, "\n")
	d := influx.Decode([]byte(body), influx.Options{Tenant: "acme"})
	res := normalize.Options{}.Judge(d, received)
	want := []string{
		"acme/web-1 cpu_usage_idle map[cpu:cpu0]=92.5 @1m0s",
		"acme/web-1 cpu_usage_user map[cpu:cpu0]=3 @1m0s",
		"acme/web-1 cpu_online map[cpu:cpu0]=1 @1m0s",
		"acme/db-1 disk_space_used_percent map[path:/var log,x=1]=71.5 @1m0s",
		"acme/db-1 disk_space_free map[path:/var log,x=1]=12 @1m0s",
		"acme/web-1 mem map[]=1 @0s",
	}
	if got := events(res); !slices.Equal(got, want) {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	var rej []string
	for _, r := range res.Rejected {
		rej = append(rej, fmt.Sprintf("%d:%s:%s", r.Err.Index, r.Err.Reason, r.Raw))
	}
	wantRej := []string{"6:invalid_line:broken line without fields", "7:missing_field:"}
	if len(rej) != 2 || rej[0] != wantRej[0] || !strings.HasPrefix(rej[1], wantRej[1]) {
		t.Fatalf("rejected %q", rej)
	}
	if d.Dropped[influx.DroppedStringFields] != 2 {
		t.Fatalf("dropped %v", d.Dropped)
	}
}

func TestPrecision(t *testing.T) {
	at := received.Add(-90 * time.Second)
	for _, c := range []struct {
		param string
		ts    int64
	}{{"ns", at.UnixNano()}, {"", at.UnixNano()}, {"n", at.UnixNano()}, {"us", at.UnixMicro()}, {"u", at.UnixMicro()},
		{"ms", at.UnixMilli()}, {"s", at.Unix()}, {"m", at.Unix() / 60}, {"h", at.Unix() / 3600}} {
		p, err := influx.ParsePrecision(c.param)
		if err != nil {
			t.Fatal(err)
		}
		d := influx.Decode([]byte(fmt.Sprintf("m,host=h v=1 %d", c.ts)), influx.Options{Tenant: "acme", Precision: p})
		res := normalize.Options{}.Judge(d, received)
		want := at.Truncate(p)
		if len(res.Events) != 1 || res.Events[0].Sample.TsMicro != want.UnixMilli()*1000 {
			t.Fatalf("precision %q: %+v, want %s", c.param, res, want)
		}
	}
	if _, err := influx.ParsePrecision("d"); err == nil {
		t.Fatal("precision d accepted")
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte("cpu,host=a,x=y f=1,g=2i,h=true,s=\"x\" 1761040800000000000\nbad\n"), int64(0))
	f.Add([]byte("m\\ x,host=a\\=b v=-1e300 1"), int64(time.Second))
	f.Fuzz(func(t *testing.T, body []byte, prec int64) {
		if prec <= 0 || prec > int64(time.Hour) {
			prec = 1
		}
		d := influx.Decode(body, influx.Options{Tenant: "acme", Precision: time.Duration(prec)})
		res := normalize.Options{}.Judge(d, received)
		lines := strings.Count(string(body), "\n") + 1
		for _, r := range res.Rejected {
			if r.Err.Index < 1 || r.Err.Index > lines {
				t.Fatalf("line %d of %d", r.Err.Index, lines)
			}
		}
	})
}
