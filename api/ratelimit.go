package api

import (
	"math"
	"sync"
	"time"
)

// tenantLimiter is a token bucket per tenant, counted in events. A request
// is admitted while its tenant's bucket is not in debt and then takes all
// its events, possibly going into debt: a large batch is never refused for
// its size alone, and the tenant waits out the debt before its next one.
// Other tenants are not affected: one noisy tenant cannot starve them.
type tenantLimiter struct {
	rate  float64 // events per second; 0 admits everything
	burst float64

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

// maxIdleBuckets bounds the map: beyond it, full buckets (which equal no
// bucket) are forgotten.
const maxIdleBuckets = 10_000

func newTenantLimiter(rate float64, burst int) *tenantLimiter {
	if burst <= 0 {
		burst = int(math.Ceil(rate))
	}
	return &tenantLimiter{rate: rate, burst: float64(burst), buckets: map[string]*bucket{}}
}

// admit takes n events of each tenant of counts at now, all or nothing. It
// returns how long to wait when a tenant is in debt.
func (l *tenantLimiter) admit(counts map[string]int, now time.Time) (string, time.Duration) {
	if l == nil || l.rate <= 0 {
		return "", 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for t := range counts {
		b := l.bucket(t, now)
		if b.tokens < 0 {
			return t, time.Duration(math.Ceil(-b.tokens/l.rate*1e9)) * time.Nanosecond
		}
	}
	for t, n := range counts {
		l.buckets[t].tokens -= float64(n)
	}
	return "", 0
}

func (l *tenantLimiter) bucket(t string, now time.Time) *bucket {
	b, ok := l.buckets[t]
	if !ok {
		if len(l.buckets) >= maxIdleBuckets {
			l.sweep(now)
		}
		b = &bucket{tokens: l.burst, at: now}
		l.buckets[t] = b
		return b
	}
	if d := now.Sub(b.at); d > 0 {
		b.tokens = math.Min(l.burst, b.tokens+d.Seconds()*l.rate)
		b.at = now
	}
	return b
}

func (l *tenantLimiter) sweep(now time.Time) {
	for t, b := range l.buckets {
		if b.tokens+now.Sub(b.at).Seconds()*l.rate >= l.burst {
			delete(l.buckets, t)
		}
	}
}
