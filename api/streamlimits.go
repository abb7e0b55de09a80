package api

import (
	"fmt"
	"sync"

	"github.com/gofiber/fiber/v2"
)

// Stream caps: how many alert streams may be open at once.
const (
	DefaultStreamsPerKey    = 10
	DefaultStreamsPerTenant = 50
	DefaultStreamsTotal     = 1000
)

// streamLimits counts open alert streams per key, per tenant and in all.
type streamLimits struct {
	perKey, perTenant, total int

	mu       sync.Mutex
	byKey    map[string]int
	byTenant map[string]int
	open     int
}

func newStreamLimits(perKey, perTenant, total int) *streamLimits {
	return &streamLimits{perKey: perKey, perTenant: perTenant, total: total, byKey: map[string]int{}, byTenant: map[string]int{}}
}

// acquire takes a stream for key and tenant, or says which cap is reached
// (a 429 problem).
func (l *streamLimits) acquire(key, tenant string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	var over string
	switch {
	case l.open >= l.total:
		over = fmt.Sprintf("this server has %d alert streams open, its limit", l.open)
	case l.byTenant[tenant] >= l.perTenant:
		over = fmt.Sprintf("tenant %q has %d alert streams open, its limit", tenant, l.byTenant[tenant])
	case l.byKey[key] >= l.perKey:
		over = fmt.Sprintf("this key has %d alert streams open, its limit", l.byKey[key])
	}
	if over != "" {
		return &Problem{Type: "about:blank", Title: "Too Many Requests", Status: fiber.StatusTooManyRequests,
			Detail: over + ": close one (a browser tab, an idle client) and retry"}
	}
	l.open++
	l.byTenant[tenant]++
	l.byKey[key]++
	return nil
}

func (l *streamLimits) release(key, tenant string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.open--
	if l.byTenant[tenant]--; l.byTenant[tenant] <= 0 {
		delete(l.byTenant, tenant)
	}
	if l.byKey[key]--; l.byKey[key] <= 0 {
		delete(l.byKey, key)
	}
}
