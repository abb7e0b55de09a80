package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"testing"

	"github.com/eventops/eventops/broker/brokertest"
	"github.com/eventops/eventops/chaos"
	"github.com/eventops/eventops/store/storetest"
)

// The failure harness's short run: three replicas running every stage,
// notify included, on a broker process with a private PostgreSQL, two
// SIGKILLs and two poison bursts, with split records, junk, a skewed
// clock, resent events and a rule reload in the stream; nothing stored,
// computed or notified may be lost, duplicated or wrong.
func TestChaosSmoke(t *testing.T) {
	t.Parallel()
	storetest.NeedsPostgreSQL(t)
	brokertest.NeedsBroker(t)
	// The harness's private PostgreSQL runs as the postgres user, who must
	// reach its directory: t.TempDir() is private to root.
	dir, err := os.MkdirTemp("", "eventops-chaos-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(eventopsBinary(t), "chaos", "--quick", "--json", "--data-dir", dir)
	out, err := cmd.Output()
	var rows []chaos.Row
	if jerr := json.Unmarshal(out, &rows); jerr != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("eventops chaos --quick: %v %v\n%s\n%s", err, jerr, out, stderr)
	}
	if len(rows) != 2 {
		t.Fatalf("rows %+v", rows)
	}
	for _, r := range rows {
		if !r.OK() || r.Trials != 2 || r.Events == 0 || r.Deliveries == 0 || r.Injected == 0 || r.Resends == 0 || r.ReloadResolutions != 3 {
			t.Errorf("%s: %+v", r.Fault, r)
		}
		if r.Fault == chaos.FaultPoison && r.Poison != 2*11 {
			t.Errorf("poison sent %d", r.Poison)
		}
	}
	if err != nil {
		t.Fatalf("eventops chaos exited with %v", err)
	}
}
