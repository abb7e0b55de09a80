package chaos

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is what a harness run found: a row per fault kind, in the order
// they ran.
type Report struct {
	Rows []Row
	// Took is how long the whole run took.
	Took time.Duration
}

// ErrFound is the verdict of a report with a row that is not OK.
var ErrFound = errors.New("the harness found lost, duplicated or wrong results (see the table)")

// Err is ErrFound when a row found something wrong, else nil.
func (rep Report) Err() error {
	for _, r := range rep.Rows {
		if !r.OK() {
			return ErrFound
		}
	}
	return nil
}

// MarshalJSON writes the rows alone, as an array: what `eventops chaos
// --json` prints.
func (rep Report) MarshalJSON() ([]byte, error) { return json.Marshal(rep.Rows) }

// WriteText writes two tables (what was stored and computed; what was
// notified and refused), then each row's details and how long the run
// took.
func (rep Report) WriteText(w io.Writer) error {
	round := func(d time.Duration) time.Duration { return d.Round(100 * time.Millisecond) }
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "fault\ttrials\tevents\tlost\tduplicated\twrong values\twrong features\twrong alerts\tpoison missing\tunexpected exits\tstage restarts\ttakeover p50 / max\n")
	for _, r := range rep.Rows {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s / %s\n", r.Fault, r.Trials, r.Events, r.Lost, r.Duplicated,
			r.WrongValues, r.WrongFeatures, r.WrongAlerts, r.PoisonMissing, r.UnexpectedExits, r.StageRestarts,
			round(r.TakeoverP50), round(r.TakeoverMax))
	}
	tw.Flush()
	fmt.Fprintln(w)
	fmt.Fprintf(tw, "fault\tdeliveries\tlost\tduplicated\tcrash window\tunexpected\tinjected\tDLQ missing\tjunk clear\tskew refused\tskew no-data\tresends\tapplied twice\treload resolutions\treload missing\n")
	for _, r := range rep.Rows {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%d\t%d\t%d\t%d\t%d\t%d\n", r.Fault, r.Deliveries, r.DeliveriesLost,
			r.DeliveriesDuplicated, r.DeliveriesCrashWindow, r.DeliveriesUnexpected, r.Injected, r.InjectedMissing, round(r.JunkClear),
			r.SkewRefused, r.SkewNoData, r.Resends, r.ResendsTwice, r.ReloadResolutions, r.ReloadMissing)
	}
	tw.Flush()
	for _, r := range rep.Rows {
		r.writeDetails(w)
	}
	_, err := fmt.Fprintf(w, "took %s\n", rep.Took.Round(time.Second))
	return err
}

// writeDetails writes what a row's columns do not show: memory while
// PostgreSQL was down, who sent the notifications, the copies sent in the
// crash window and the problems.
func (r Row) writeDetails(w io.Writer) {
	if r.PeakRSS > 0 {
		fmt.Fprintf(w, "%s: replica RSS %d MiB before, at most %d MiB while PostgreSQL was down\n", r.Fault, r.BaselineRSS>>20, r.PeakRSS>>20)
	}
	by := make([]string, 0, len(r.DeliveredBy))
	for name, n := range r.DeliveredBy {
		by = append(by, fmt.Sprintf("%s %d", name, n))
	}
	sort.Strings(by)
	fmt.Fprintf(w, "%s: notifications by replica: %s\n", r.Fault, strings.Join(by, ", "))
	for _, c := range r.CrashWindow {
		fmt.Fprintf(w, "%s: sent again in the crash window: %s\n", r.Fault, c)
	}
	for _, p := range r.Problems {
		fmt.Fprintf(w, "%s: %s\n", r.Fault, p)
	}
}
