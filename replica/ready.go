package replica

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/eventops/eventops/actors"
	"github.com/eventops/eventops/api"
	"github.com/eventops/eventops/processors"
	"github.com/eventops/eventops/tables"
)

// check is one readiness check: nil when its part is ready, else an
// *api.NotReadyError whose reason any client may be shown.
type check func(context.Context) error

// connectionChecks are the checks of every replica: PostgreSQL (when a
// stage uses it) and the broker answer.
func (w *wiring) connectionChecks() []check {
	var checks []check
	if w.db != nil && w.opts.needsStore() {
		checks = append(checks, func(ctx context.Context) error {
			if err := w.db.Ping(ctx); err != nil {
				return &api.NotReadyError{Reason: "PostgreSQL is not reachable", Err: err}
			}
			return nil
		})
	}
	return append(checks, func(ctx context.Context) error {
		if err := w.records.Ping(ctx); err != nil {
			return &api.NotReadyError{Reason: "the broker is not reachable", Err: err}
		}
		return nil
	})
}

// recovered is the check of a goka stage: its processor runs and its
// partitions are recovered.
func recovered(name string, st interface{ Recovered() bool }) check {
	return func(context.Context) error {
		if !st.Recovered() {
			return &api.NotReadyError{Reason: fmt.Sprintf("the %s stage's partitions are not recovered", name)}
		}
		return nil
	}
}

// writesSucceed is the check of the sink's writers.
func writesSucceed(sink *actors.Sink) check {
	return func(context.Context) error {
		if !sink.Healthy() {
			return &api.NotReadyError{Reason: "the last PostgreSQL write failed"}
		}
		return nil
	}
}

// viewsCaughtUp is the check of the API's views: the features table is
// recovered and the alert hub has read ops.alert.v1.
func viewsCaughtUp(view *processors.FeatureView, hub *api.Hub) check {
	return func(context.Context) error {
		if !view.Recovered() {
			return &api.NotReadyError{Reason: "the features table is not recovered yet"}
		}
		select {
		case <-hub.Ready():
			return nil
		default:
			return &api.NotReadyError{Reason: "the alert stream has not read " + tables.AlertsTopic + " yet"}
		}
	}
}

// ready runs every check and joins what they report.
func (w *wiring) ready(ctx context.Context) error {
	var errs []error
	for _, c := range w.checks {
		errs = append(errs, c(ctx))
	}
	return errors.Join(errs...)
}

// buildReadiness makes what calls Options.OnReady once every check
// passes, polling them until then or until ctx ends.
func (w *wiring) buildReadiness() {
	if w.opts.OnReady == nil {
		return
	}
	w.goes(func(ctx context.Context) error {
		for w.ready(ctx) != nil {
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(100 * time.Millisecond): // the poll interval
			}
		}
		w.opts.OnReady()
		return nil
	})
}
