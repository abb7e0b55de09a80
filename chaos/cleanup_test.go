package chaos

import (
	"slices"
	"testing"
)

// A run stops its broker, replicas and database through a cleanup it
// defers before it starts them: what is added after the defer must run
// too, last first.
func TestCleanupDeferredRunsWhatWasAddedLater(t *testing.T) {
	var ran []string
	func() {
		var undo cleanup
		defer undo.run()
		undo.add(func() { ran = append(ran, "database") })
		undo.add(func() { ran = append(ran, "broker") })
		undo.add(func() { ran = append(ran, "replicas") })
	}()
	if want := []string{"replicas", "broker", "database"}; !slices.Equal(ran, want) {
		t.Fatalf("cleanup ran %v, want %v", ran, want)
	}
}
