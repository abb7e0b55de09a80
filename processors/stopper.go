package processors

import (
	"sync"
	"sync/atomic"

	"github.com/lovoo/goka"
)

// stopper is embedded in every stage: its Close tells the stage's pending
// retries (records the broker refused) to give up. The pipeline calls it
// once the stage is done for good — after its last Run returned — so that
// retries go on while goka drains a stopping stage, and across the restarts
// of a stage after a broker error.
type stopper struct {
	once sync.Once
	c    chan struct{}
}

func newStopper() stopper { return stopper{c: make(chan struct{})} }

// Close stops the stage's retries.
func (s *stopper) Close() { s.once.Do(func() { close(s.c) }) }

// current is embedded in every stage: the goka processor of its current
// run, for readiness.
type current struct {
	p atomic.Pointer[goka.Processor]
}

func (c *current) set(p *goka.Processor) { c.p.Store(p) }

// Recovered reports whether the stage runs and its partitions (and
// tables) are recovered.
func (c *current) Recovered() bool {
	p := c.p.Load()
	return p != nil && p.Recovered()
}

// maxInterned bounds the bytes of strings a stage shares between the
// signals it decodes (tenants, hosts, metrics, units, tags).
const maxInterned = 32 << 20
