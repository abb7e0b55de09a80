package actors

import (
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/eventops/eventops/rules"
)

// Reloader replaces the rule set without a restart. A file that does not
// load is refused as a whole and the rules in force keep running; rules
// that did not change keep their alert state (their IDs are unchanged), and
// the alerts of removed or changed rules end (resolved, or inactive when
// pending, with the reason) at the next evaluation, which the reload starts
// for every source, also those not in memory.
type Reloader struct {
	holder  *RuleHolder
	sources *Sources // nil when this replica runs no features stage
	load    func() (*rules.RuleSet, error)
	log     *slog.Logger
	// wakeStored starts the sources that are not in
	// memory (see AfterReload).
	wakeStored func()

	mu      sync.Mutex
	total   *prometheus.CounterVec
	ok      prometheus.Gauge
	when    prometheus.Gauge
	numRule prometheus.Gauge
}

// NewReloader builds a reloader; load reads the rule file again.
func NewReloader(holder *RuleHolder, sources *Sources, load func() (*rules.RuleSet, error), reg prometheus.Registerer, log *slog.Logger) *Reloader {
	if log == nil {
		log = slog.Default()
	}
	r := &Reloader{
		holder: holder, sources: sources, load: load, log: log,
		total: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "eventops_rules_reloads_total",
			Help: "Rule reloads, by result (success, failure)."}, []string{"result"}),
		ok: prometheus.NewGauge(prometheus.GaugeOpts{Name: "eventops_rules_last_reload_successful",
			Help: "1 if the last rule reload succeeded."}),
		when: prometheus.NewGauge(prometheus.GaugeOpts{Name: "eventops_rules_last_reload_timestamp_seconds",
			Help: "When the rules in force were loaded."}),
		numRule: prometheus.NewGauge(prometheus.GaugeOpts{Name: "eventops_rules", Help: "Rules in force."}),
	}
	if reg != nil {
		reg.MustRegister(r.total, r.ok, r.when, r.numRule)
	}
	r.ok.Set(1)
	r.when.Set(float64(time.Now().Unix()))
	r.numRule.Set(float64(holder.Current().Len()))
	return r
}

// AfterReload sets what starts, after each reload, the sources that have no
// actor in memory, so that the new rules reach them (the features stage's
// WakeStored).
func (r *Reloader) AfterReload(wakeStored func()) {
	r.mu.Lock()
	r.wakeStored = wakeStored
	r.mu.Unlock()
}

// Reload loads the rules again and puts them in force, or returns why not.
func (r *Reloader) Reload() (*rules.RuleSet, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rs, err := r.load()
	if err != nil {
		r.total.WithLabelValues("failure").Inc()
		r.ok.Set(0)
		r.log.Error("rule reload refused; the rules in force keep running", "err", err)
		return nil, fmt.Errorf("rules not reloaded: %w", err)
	}
	rs = rs.Replacing(r.holder.Current())
	r.holder.Swap(rs)
	if r.sources != nil {
		r.sources.Reevaluate()
	}
	if r.wakeStored != nil {
		r.wakeStored()
	}
	r.total.WithLabelValues("success").Inc()
	r.ok.Set(1)
	r.when.Set(float64(time.Now().Unix()))
	r.numRule.Set(float64(rs.Len()))
	r.log.Info("rules reloaded", "rules", rs.Len(), "files", rs.Files())
	return rs, nil
}
