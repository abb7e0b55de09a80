package tables

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/eventops/eventops/features"
	"github.com/eventops/eventops/rules"
)

// BenchmarkSeriesMemory measures what a series costs a features replica:
// 20,000 series, as sources of 10 metrics with 10 series each (tags core
// 0..9) or with one series each, every series with two hours of one sample
// per 10 s (a gauge with 2 decimals), held as an actor holds them (the
// state and the rules' index of its series, with the newest samples noted
// for explanations). It reports the heap and the
// RSS per series, and the encoded state per series; "queried" series have
// also been read as rules read them (every window's average and p99).
//
//	go test -run '^$' -bench SeriesMemory -benchtime 1x ./tables/
func BenchmarkSeriesMemory(b *testing.B) {
	b.Run("held", func(b *testing.B) { seriesMemory(b, 10, false) })
	b.Run("queried", func(b *testing.B) { seriesMemory(b, 10, true) })
	b.Run("held-1-per-metric", func(b *testing.B) { seriesMemory(b, 1, false) })
	b.Run("queried-1-per-metric", func(b *testing.B) { seriesMemory(b, 1, true) })
}

func seriesMemory(b *testing.B, perMetric int, queried bool) {
	const total, metrics, samples = 20_000, 10, 720
	sources := total / (metrics * perMetric)
	type held struct {
		st    *SourceState
		feats rules.SourceFeatures
	}
	for b.Loop() {
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		rssBefore := rss(b)
		all := make([]held, sources)
		for s := range all {
			h := &all[s]
			h.st = &SourceState{}
			for m := range metrics {
				for c := range perMetric {
					tags := Tags{{Key: "core", Value: strconv.Itoa(c)}, {Key: "env", Value: "prod"}}
					ser := features.NewSeries(features.DefaultConfig())
					for i := range int64(samples) {
						v := float64(int64(4000+1000*float64(c)/float64(perMetric)+float64(i%97))) / 100
						ser.Add(1_761_040_800_000+i*10_000, v)
						// As the actor notes the samples of metrics rules
						// read, for explanations (here every metric).
						h.feats.NoteSample(ser, 1_761_040_800_000+i*10_000, v, rules.SampleOrigin{Topic: RawTopic, Offset: i})
					}
					if queried {
						// What rules read: every window's statistics and quantiles.
						for _, w := range ser.Config().Windows {
							ser.Stat(features.StatP99, w, 1_761_040_800_000+samples*10_000)
							ser.Stat("avg", w, 1_761_040_800_000+samples*10_000)
						}
					}
					ms := h.st.AddMetric(MetricState{Name: fmt.Sprintf("metric_%02d", m), Tags: tags, Unit: "percent", Series: ser})
					h.feats.Set(ms.Name, ms.Tags.Labels(), ms.Series)
				}
			}
		}
		runtime.GC()
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		rssAfter := rss(b)
		n := float64(sources * metrics * perMetric)
		enc, err := all[0].st.AppendBinary(nil)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "heap-B/series")
		b.ReportMetric(float64(rssAfter-rssBefore)/n, "rss-B/series")
		b.ReportMetric(float64(len(enc))/float64(metrics*perMetric), "state-B/series")
		runtime.KeepAlive(all)
	}
}

// rss is the process's resident set (VmRSS), in bytes.
func rss(b *testing.B) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			return kb << 10
		}
	}
	b.Fatal("no VmRSS")
	return 0
}
