package stagelabel

import (
	"bytes"
	"context"
	"runtime/pprof"
	"strings"
	"testing"
)

// goroutineRecord returns the goroutine profile's record (debug=1: the
// goroutines of one stack, their labels first) whose stack holds fn.
func goroutineRecord(t *testing.T, fn string) string {
	t.Helper()
	var b bytes.Buffer
	if err := pprof.Lookup("goroutine").WriteTo(&b, 1); err != nil {
		t.Fatal(err)
	}
	for _, record := range strings.Split(b.String(), "\n\n") {
		if strings.Contains(record, fn) {
			return record
		}
	}
	t.Fatalf("no goroutine in %s:\n%s", fn, b.String())
	return ""
}

//go:noinline
func parkInStage(entered, release chan struct{}) {
	close(entered)
	<-release
}

//go:noinline
func parkSet(entered, release chan struct{}) {
	close(entered)
	<-release
}

// A goroutine started inside Run carries the stage's label, and the
// caller's labels are back once Run returns.
func TestRunLabelsWhatItStarts(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	defer close(release)
	err := Run(context.Background(), "ingest", func(ctx context.Context) error {
		if v, _ := pprof.Label(ctx, Key); v != "ingest" {
			t.Errorf("ctx label %q", v)
		}
		go parkInStage(entered, release)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	<-entered
	if r := goroutineRecord(t, "parkInStage"); !strings.Contains(r, `"stage":"ingest"`) {
		t.Errorf("a goroutine started in the stage is not labelled:\n%s", r)
	}
}

// Set replaces the labels of the goroutine that calls it, whatever it
// inherited.
func TestSetReplacesInheritedLabels(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	defer close(release)
	sink := For("sink")
	Do(context.Background(), "ingest", func(context.Context) {
		go func() {
			sink.Set()
			parkSet(entered, release)
		}()
	})
	<-entered
	r := goroutineRecord(t, "parkSet")
	if !strings.Contains(r, `"stage":"sink"`) || strings.Contains(r, `"stage":"ingest"`) {
		t.Errorf("Set did not replace the inherited label:\n%s", r)
	}
}
