package backtest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/eventops/eventops/rules"
)

// spansOf folds transitions into their episodes.
func spansOf(trs ...[]*rules.Transition) []*Span {
	var s Spans
	for _, l := range trs {
		for _, tr := range l {
			s.Add(tr)
		}
	}
	return s.List()
}

// changes writes a series' changes as kind:old-new pending seconds.
func changes(sd SeriesDiff) string {
	var out []string
	at := func(sp *Span) string {
		if sp == nil {
			return "_"
		}
		return fmt.Sprint((int64(sp.PendingAt) - t0) / 1000)
	}
	for _, c := range sd.Changes {
		out = append(out, c.Kind+":"+at(c.Old)+"-"+at(c.New))
	}
	return strings.Join(out, " ")
}

func TestCompareRaisedThreshold(t *testing.T) {
	// Old rule (> 80) on h1: three episodes; the new one (> 90) sees only
	// the second, later and shorter, and splits the third in two. h2 is
	// the same under both; h3 fires only under the new rule (a changed
	// clear, say).
	old := spansOf(
		episode("o1", "host", "HighCPU", 1, "h1", nil, 100, 160, 400),
		episode("o2", "host", "HighCPU", 1, "h1", nil, 1000, 1060, 1500),
		episode("o3", "host", "HighCPU", 1, "h1", nil, 2000, 2060, -1),
		episode("o4", "host", "HighCPU", 1, "h2", nil, 100, 160, 400),
		episode("o5", "disk", "DiskFull", 3, "h1", nil, 0, 0, -1),
	)
	new := spansOf(
		episode("n1", "host", "HighCPU", 2, "h1", nil, 1100, 1160, 1300),
		episode("n2", "host", "HighCPU", 2, "h1", nil, 2100, 2160, 2400),
		episode("n3", "host", "HighCPU", 2, "h1", nil, 2600, 2660, -1),
		episode("n4", "host", "HighCPU", 2, "h2", nil, 100, 160, 400),
		episode("n5", "host", "HighCPU", 2, "h3", nil, 50, -1, 70),
		episode("n6", "disk", "DiskFull", 3, "h1", nil, 0, 0, -1),
	)
	c := Compare(old, new, CompareOptions{Until: time.UnixMilli(sec(3600))})
	if len(c.Rules) != 2 || c.Rules[0].AlertName != "DiskFull" || c.Rules[1].AlertName != "HighCPU" {
		t.Fatalf("rules %+v", c.Rules)
	}
	disk := c.Rules[0]
	if disk.Differs() || len(disk.Series) != 0 || disk.EpisodesOld != 1 || disk.EpisodesNew != 1 {
		t.Errorf("DiskFull did not change: %+v", disk)
	}
	cpu := c.Rules[1]
	if cpu.OldRuleID != 1 || cpu.NewRuleID != 2 {
		t.Errorf("rule IDs %v %v", cpu.OldRuleID, cpu.NewRuleID)
	}
	oldFiring := int64(400-160+1500-1060+3600-2060+400-160) * 1000
	newFiring := int64(1300-1160+2400-2160+3600-2660+400-160) * 1000
	want := DiffCounts{EpisodesOld: 4, EpisodesNew: 5, FiredOld: 4, FiredNew: 4, Added: 2, Removed: 1, Later: 2,
		FiringMilliOld: oldFiring, FiringMilliNew: newFiring, FiringDeltaMilli: newFiring - oldFiring}
	if cpu.DiffCounts != want {
		t.Errorf("HighCPU:\n got %+v\nwant %+v", cpu.DiffCounts, want)
	}
	if len(cpu.Series) != 2 || cpu.Series[0].Host != "h1" || cpu.Series[1].Host != "h3" {
		t.Fatalf("series %+v", cpu.Series)
	}
	if got := changes(cpu.Series[0]); got != "removed:100-_ later:1000-1100 later:2000-2100 added:_-2600" {
		t.Errorf("h1: %s", got)
	}
	if got := changes(cpu.Series[1]); got != "added:_-50" {
		t.Errorf("h3: %s", got)
	}
	if s := cpu.Series[0]; s.Changes[1].ShiftMilli != 100_000 || s.Removed != 1 || s.Later != 2 || s.Added != 1 {
		t.Errorf("h1 counts %+v", s.DiffCounts)
	}
}

func TestComparePairing(t *testing.T) {
	f := func(name string, old, new [][3]int64, want string) {
		t.Helper()
		var o, n [][]*rules.Transition
		for i, e := range old {
			o = append(o, episode(fmt.Sprint("o", i), "g", "A", 1, "h", nil, e[0], e[1], e[2]))
		}
		for i, e := range new {
			n = append(n, episode(fmt.Sprint("n", i), "g", "A", 2, "h", nil, e[0], e[1], e[2]))
		}
		c := Compare(spansOf(o...), spansOf(n...), CompareOptions{Until: time.UnixMilli(sec(1000))})
		got := ""
		if len(c.Rules[0].Series) > 0 {
			got = changes(c.Rules[0].Series[0])
		}
		if got != want {
			t.Errorf("%s: got %q, want %q", name, got, want)
		}
		d := c.Rules[0].DiffCounts
		if d.Added-d.Removed != d.EpisodesNew-d.EpisodesOld {
			t.Errorf("%s: added %d removed %d, but %d -> %d episodes", name, d.Added, d.Removed, d.EpisodesOld, d.EpisodesNew)
		}
	}
	f("same", [][3]int64{{10, 20, 30}}, [][3]int64{{10, 20, 30}}, "")
	f("earlier", [][3]int64{{10, 20, 30}}, [][3]int64{{5, 20, 30}}, "earlier:10-5")
	f("fires later, same start", [][3]int64{{10, 20, 30}}, [][3]int64{{10, 25, 30}}, "changed:10-10")
	f("no longer fires", [][3]int64{{10, 20, 30}}, [][3]int64{{10, -1, 15}}, "changed:10-10")
	f("touching is not overlapping", [][3]int64{{10, 20, 30}}, [][3]int64{{30, 40, 50}}, "removed:10-_ added:_-30")
	f("merged", [][3]int64{{10, 20, 30}, {40, 50, 60}}, [][3]int64{{5, 10, 70}}, "earlier:10-5 removed:40-_")
	f("open episodes overlap", [][3]int64{{500, 510, -1}}, [][3]int64{{900, -1, -1}}, "later:500-900")
	f("all removed", [][3]int64{{10, 20, 30}, {40, 50, 60}}, nil, "removed:10-_ removed:40-_")
}

// Episodes open at the range's start are paired like others, their time
// firing counted from the start: old fires from before it (carried) to 20
// s past it, new starts pending at 10 s and fires at 15 s, both resolve
// at 20 s.
func TestCompareCarriedEpisodes(t *testing.T) {
	open := tr("o", rules.StateFiring, sec(-30), sec(-20), sec(0))
	var old, new Spans
	old.AddOpen(open)
	old.Add(tr("o", rules.StateResolved, sec(-30), sec(-20), sec(20)))
	new.Add(tr("n", rules.StatePending, sec(10), sec(10), sec(10)))
	new.Add(tr("n", rules.StateFiring, sec(10), sec(15), sec(15)))
	new.Add(tr("n", rules.StateResolved, sec(10), sec(15), sec(20)))
	c := Compare(old.List(), new.List(), CompareOptions{Until: time.UnixMilli(sec(60))})
	if len(c.Rules) != 1 || len(c.Rules[0].Series) != 1 {
		t.Fatalf("comparison %+v", c)
	}
	d := c.Rules[0].Series[0]
	if got := changes(d); got != "later:-30-10" || d.FiringMilliOld != 20_000 || d.FiringMilliNew != 5_000 || d.FiredOld != 1 {
		t.Errorf("changes %q, firing %d -> %d ms, fired old %d; want later:-30-10, 20000 -> 5000, 1", got, d.FiringMilliOld, d.FiringMilliNew, d.FiredOld)
	}
}

// Tag values may hold any text: a series whose one tag reads like two
// tags is another series, in the summary and in a comparison.
func TestSeriesWithLookalikeTagsStayApart(t *testing.T) {
	one := map[string]string{"mode": "ro,path=/a"}
	two := map[string]string{"mode": "ro", "path": "/a"}
	old := spansOf(episode("o1", "disk", "DiskFull", 1, "h1", one, 0, 60, 600))
	new := spansOf(episode("n1", "disk", "DiskFull", 1, "h1", two, 0, 60, 600))
	c := Compare(old, new, CompareOptions{Until: time.UnixMilli(sec(3600))})
	if d := c.Rules[0].DiffCounts; d.Added != 1 || d.Removed != 1 || len(c.Rules[0].Series) != 2 {
		t.Errorf("an episode moved from one series to another: %+v, %d series", d, len(c.Rules[0].Series))
	}
	var trs []*rules.Transition
	trs = append(trs, episode("e1", "disk", "DiskFull", 1, "h1", one, 0, 60, 600)...)
	trs = append(trs, episode("e2", "disk", "DiskFull", 1, "h1", two, 0, 60, 600)...)
	if got := Summarize(trs, SummaryOptions{Until: time.UnixMilli(sec(3600))}).Rules[0].Series; got != 2 {
		t.Errorf("%d series, want 2", got)
	}
}
