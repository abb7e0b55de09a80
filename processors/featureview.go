package processors

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/lovoo/goka"

	"github.com/eventops/eventops/features"
	"github.com/eventops/eventops/tables"
	"github.com/eventops/eventops/tables/gokatables"
)

// FeatureView serves any source's state from a goka View of the features
// table, so every replica answers for every source. It holds the state as
// last flushed (at most the flush interval old).
type FeatureView struct {
	view *goka.View
	cfg  func(metric string) features.Config

	// mu orders reads against the view's end: goka closes a view's
	// partitions when its Run returns, without a lock against Get and
	// Recovered. Run marks the view stopped (waiting out the reads in
	// flight) before it lets goka close it; no read starts after.
	mu      sync.RWMutex
	stopped bool
	// opened are the view's clients, closed when Run returns.
	opened openClients
}

// NewFeatureView opens a view of the features table; cfg gives each
// metric's feature configuration.
func NewFeatureView(k Kafka, cfg func(metric string) features.Config) (*FeatureView, error) {
	fv := &FeatureView{cfg: cfg}
	v, err := goka.NewView(k.Brokers, gokatables.FeaturesTable, gokatables.BytesCodec{}, k.tracking(&fv.opened).ViewOptions("features")...)
	if err != nil {
		fv.opened.Close()
		return nil, fmt.Errorf("features view: %w", err)
	}
	fv.view = v
	return fv, nil
}

// Run keeps the view up to date until ctx ends. (The view reconnects by
// itself, so it ends only when ctx does, but for an error at its start.)
func (v *FeatureView) Run(ctx context.Context) error {
	defer v.opened.Close()
	inner, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- v.view.Run(inner) }()
	select {
	case <-ctx.Done():
	case err := <-done:
		v.stop()
		return err
	}
	v.stop()
	cancel()
	return <-done
}

// stop marks the view stopped once the reads in flight are done.
func (v *FeatureView) stop() {
	v.mu.Lock()
	v.stopped = true
	v.mu.Unlock()
}

// Recovered reports whether the view has caught up with the table.
func (v *FeatureView) Recovered() bool {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return !v.stopped && v.view.Recovered()
}

// errViewStopped answers reads after the view stopped.
var errViewStopped = errors.New("the view has stopped")

func (v *FeatureView) get(key string) (any, error) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	if v.stopped {
		return nil, errViewStopped
	}
	return v.view.Get(key)
}

// SourceState returns a source's state as last flushed, nil when the
// table holds none.
func (v *FeatureView) SourceState(_ context.Context, tenant, host string) (*tables.SourceState, error) {
	raw, err := v.get(tables.SourceKey(tenant, host))
	if err != nil {
		return nil, fmt.Errorf("features view: %w", err)
	}
	b, _ := raw.([]byte)
	if len(b) == 0 {
		return nil, nil
	}
	st, _, err := tables.DecodeSourceState(b, v.cfg)
	if err != nil {
		return nil, fmt.Errorf("features view: %s/%s: %w", tenant, host, err)
	}
	return st, nil
}
