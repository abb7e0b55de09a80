package processors

import (
	"io"
	"sync"
)

// openClients closes the sarama clients that goka's views open and never
// close: a goka View (v1.1.16) keeps its consumer and its topic manager
// connected after its Run returns, and a processor's lookup tables are
// such views. Without this, every run of the ingest stage and every
// features view would leave their connections and goroutines behind.
// Closing a client that goka closed already does nothing.
type openClients struct {
	mu      sync.Mutex
	closers []io.Closer
}

func (c *openClients) add(cl io.Closer) {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.closers = append(c.closers, cl)
	c.mu.Unlock()
}

// Close closes every client opened so far.
func (c *openClients) Close() {
	c.mu.Lock()
	closers := c.closers
	c.closers = nil
	c.mu.Unlock()
	for _, cl := range closers {
		_ = cl.Close()
	}
}

// tracking returns k whose builders record in c what they open.
func (k Kafka) tracking(c *openClients) Kafka {
	k.opened = c
	return k
}
