package bench

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/eventops/eventops/replica"
)

// The ceilings Run measures, by their key in Result.Ceilings (and, after
// "pipeline_over_", in Result.Ratios), in the order they are shown.
const (
	CeilingBroker   = "broker_roundtrip_records"
	CeilingGoka     = "bare_goka_events"
	CeilingPostgres = "postgres_copy_rows"
)

var ceilingNames = []string{CeilingBroker, CeilingGoka, CeilingPostgres}

// WriteText writes the result as `eventops bench` prints it: the ceilings,
// the capacity run, the latency run and the pipeline's ratio to each
// ceiling, as aligned columns.
func (r *Result) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "machine\t%s\nscenario\t%s\n\n", r.Machine, r.Scenario)
	fmt.Fprintf(tw, "ceiling\tcount\trate/s\tCPU per item\n")
	for _, name := range ceilingNames {
		if c, ok := r.Ceilings[name]; ok {
			fmt.Fprintf(tw, "%s\t%d\t%.0f\t%s\n", name, c.Count, c.PerSec, c.CPUPerItem)
		}
	}
	p := r.Pipeline
	fmt.Fprintf(tw, "\npipeline (normalize → enrich → features → rules → PostgreSQL)\t\t\t\n")
	fmt.Fprintf(tw, "events\t%d\nsustained events/s\t%.0f\n", p.Events, p.EventsPerSec)
	fmt.Fprintf(tw, "CPU s per 1,000 events: eventops / broker / PostgreSQL\t%.4f / %.4f / %.4f\n", p.CPUPer1000, p.BrokerCPUPer1k, p.PostgresCPUPer1k)
	fmt.Fprintf(tw, "changelog bytes per event\t%.1f\n", p.ChangelogBytes)
	fmt.Fprintf(tw, "encoded state per source / per series (%d sources in the table)\t%.0f / %.0f bytes\n", p.TableKeys, p.StateBytesPerSource, p.StateBytesPerSeries)
	fmt.Fprintf(tw, "peak RSS\t%d MiB\n", p.PeakRSS>>20)
	if len(p.StageCPU) > 0 {
		names, values := stageColumns(p.StageCPU)
		fmt.Fprintf(tw, "CPU µs per event by stage: %s\t%s\n", strings.Join(names, " / "), strings.Join(values, " / "))
	}
	l, round := r.Latency, func(d, unit time.Duration) time.Duration { return d.Round(unit) }
	fmt.Fprintf(tw, "\nlatency at %.0f events/s\t\n", l.Rate)
	fmt.Fprintf(tw, "event → alert on SSE (p50/p95/p99 of %d alerts, %d probes sent)\t%s / %s / %s\n", l.Alerts, l.Probes,
		round(l.AlertP50, time.Millisecond/10), round(l.AlertP95, time.Millisecond/10), round(l.AlertP99, time.Millisecond/10))
	fmt.Fprintf(tw, "event → row in PostgreSQL (p50/p99 of %d rows)\t%s / %s\n", l.Rows, round(l.RowP50, time.Millisecond), round(l.RowP99, time.Millisecond))
	fmt.Fprintf(tw, "events behind when the load stopped\t%d\n", l.LagAtEnd)
	fmt.Fprintf(tw, "RSS: highest in the first / second half of the run\t%d MiB / %d MiB\n", l.MaxRSSFirstHalf>>20, l.MaxRSSSecondHalf>>20)
	fmt.Fprintf(tw, "RSS at end / peak of the whole benchmark\t%d MiB / %d MiB\n", l.RSSAtEnd>>20, l.PeakRSS>>20)
	if len(r.Ratios) > 0 {
		fmt.Fprintf(tw, "\nratios\t\n")
		for _, name := range ceilingNames {
			if v, ok := r.Ratios["pipeline_over_"+name]; ok {
				fmt.Fprintf(tw, "pipeline / %s\t%.2f\n", name, v)
			}
		}
	}
	return tw.Flush()
}

// stageColumns returns the stages of byStage in the order a replica
// starts them, then Unlabelled, then any other by name, and their figures,
// one decimal.
func stageColumns(byStage map[string]float64) (names, values []string) {
	names = append(replica.Stages(), Unlabelled)
	var extra []string
	for s := range byStage {
		if !slices.Contains(names, s) {
			extra = append(extra, s)
		}
	}
	slices.Sort(extra)
	names = append(names, extra...)
	for _, s := range names {
		values = append(values, strconv.FormatFloat(byStage[s], 'f', 1, 64))
	}
	return names, values
}

// WriteText writes the report as `eventops bench --stage features` prints
// it: the bare processor and the features stage side by side.
func (r *StageReport) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "machine\t%s\nscenario\t%s\n\n", r.Machine, r.Scenario)
	fmt.Fprintf(tw, "\tevents/s\tCPU per event\tchangelog bytes per event\n")
	fmt.Fprintf(tw, "bare goka (count per key)\t%.0f\t%s\t%s\n", r.Bare.PerSec, r.Bare.CPUPerItem, "one write per record")
	fmt.Fprintf(tw, "features stage\t%.0f\t%s\t%.1f\n", r.Features.PerSec, r.Features.CPUPerItem, r.Features.ChangelogBytesPerEvent)
	fmt.Fprintf(tw, "features / bare\t%.2f\t\t\n", r.Ratio)
	fmt.Fprintf(tw, "mean encoded state of a source\t%.0f bytes\t\t\n", r.Features.StateBytesPerSource)
	return tw.Flush()
}

// WriteText writes the soak's report as `eventops bench --soak` prints
// it: the load, what reached PostgreSQL, the source actors, and memory by
// quarter of the run with the verdict.
func (r *SoakResult) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "machine\t%s\nscenario\t%s\n\n", r.Machine, r.Scenario)
	if c := r.Capacity; c != nil {
		fmt.Fprintf(tw, "sustained events/s (measured first, %d events)\t%.0f\n", c.Events, c.EventsPerSec)
	}
	fmt.Fprintf(tw, "load events/s\t%.0f\n", r.Rate)
	fmt.Fprintf(tw, "hosts / series over the run\t%d / %d\n", r.Hosts, r.Series)
	fmt.Fprintf(tw, "each host reports every / source idle timeout\t%s / %s\n", r.ReportEvery.Round(time.Millisecond), r.IdleTimeout)
	fmt.Fprintf(tw, "events sent / in PostgreSQL\t%d / %d (drained in %s, %d records undelivered)\n",
		r.EventsSent, r.EventsInPostgres, r.Drain.Round(time.Millisecond), r.Undelivered)
	fmt.Fprintf(tw, "source actors evicted / hosts that stopped / actors in memory at the end\t%d / %d / %d\n",
		r.Evictions, r.Hosts-r.ActiveHosts, r.ActorsAtEnd)
	fmt.Fprintf(tw, "\nquarter\tsamples\tRSS max\tRSS median\tlive heap max\tlive heap median\theap in use max\tsource actors (median)\n")
	for i, q := range r.Quarters {
		fmt.Fprintf(tw, "Q%d\t%d\t%d MiB\t%d MiB\t%d MiB\t%d MiB\t%d MiB\t%d\n", i+1, q.Samples,
			q.MaxRSS>>20, q.MedianRSS>>20, q.MaxHeapLive>>20, q.MedianHeapLive>>20, q.MaxHeapInUse>>20, q.MedianActors)
	}
	verdict := "flat"
	if !r.Flat {
		verdict = "growing"
	}
	fmt.Fprintf(tw, "\nRSS: highest of Q4 / highest of Q2\t%d MiB / %d MiB: %s\n", r.Quarters[3].MaxRSS>>20, r.Quarters[1].MaxRSS>>20, verdict)
	fmt.Fprintf(tw, "live heap per series in memory (Q4 median)\t%.0f bytes\n", r.HeapPerSeries)
	fmt.Fprintf(tw, "peak RSS / broker process RSS at the end\t%d MiB / %d MiB\n", r.PeakRSS>>20, r.BrokerRSS>>20)
	return tw.Flush()
}

// WriteText writes the report as `eventops bench --backtest` prints it:
// the history, each run, and the medians.
func (r *BacktestResult) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "machine\t%s\nscenario\t%s\n\n", r.Machine, r.Scenario)
	fmt.Fprintf(tw, "written to PostgreSQL\t%d rows at %.0f rows/s\n\n", r.Samples, r.WriteRowsPerSec)
	fmt.Fprintf(tw, "run\twall\tsamples/s\t× real time\tCPU\tin the engine / reading\tpeak heap in use\tpeak live heap\tlive heap before\tGC cycles\tsignals\tsources\ttransitions\n")
	row := func(name string, b *BacktestRun) {
		fmt.Fprintf(tw, "%s\t%s\t%.0f\t%.0f\t%s\t%s / %s\t%.1f MiB\t%.1f MiB\t%.1f MiB\t%d\t%d\t%d\t%d\n", name,
			b.Wall.Round(time.Millisecond), b.SamplesPerSec, b.RealTime, b.CPU.Round(time.Millisecond),
			b.Engine.Round(time.Millisecond), (b.Wall - b.Engine).Round(time.Millisecond), mib(b.PeakHeapInUse), mib(b.PeakHeapLive), mib(b.HeapBefore), b.GCs, b.Signals, b.Sources, b.Transitions)
	}
	for i := range r.Runs {
		row(strconv.Itoa(i+1), &r.Runs[i])
	}
	row("median", &r.Median)
	return tw.Flush()
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }
