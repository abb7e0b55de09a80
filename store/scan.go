package store

import "time"

// SignalScan selects the stored samples a backtest (or a warm start) reads:
// those of the tenant and host (empty: every one) with From <= ts < To.
type SignalScan struct {
	Tenant string
	Host   string
	From   time.Time
	To     time.Time
}
