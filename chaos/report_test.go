package chaos

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

// A report prints its rows as a JSON array (what `eventops chaos --json`
// prints and the smoke test reads), and its verdict fails on any row that
// found something wrong.
func TestReport(t *testing.T) {
	good := Row{Fault: FaultKill, Trials: 2, Events: 10, DeliveredBy: map[string]int{"replica-1": 2, "replica-0": 3}}
	bad := Row{Fault: FaultPoison, Trials: 2, Events: 10, Problems: []string{"trial 1: late"}}
	rep := Report{Rows: []Row{good}, Took: 90 * time.Second}
	if err := rep.Err(); err != nil {
		t.Errorf("a good report: %v", err)
	}
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var rows []Row
	if err := json.Unmarshal(b, &rows); err != nil || len(rows) != 1 || rows[0].Fault != FaultKill || rows[0].Events != 10 {
		t.Errorf("JSON %s: %v %+v", b, err, rows)
	}
	rep.Rows = append(rep.Rows, bad)
	if err := rep.Err(); !errors.Is(err, ErrFound) {
		t.Errorf("a report with a bad row: %v", err)
	}
	var text strings.Builder
	if err := rep.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"sigkill: notifications by replica: replica-0 3, replica-1 2\n", "poison: trial 1: late\n", "took 1m30s\n"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("no %q in\n%s", want, text.String())
		}
	}
}
