package replica

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
)

// lagCollector reports the consumer lag of EventOps's groups per topic and
// partition (kadm's Lag: the end offset minus the group's committed
// offset). The scrape route is public, so the broker is asked at most once
// per maxAge, by one scrape at a time; the others get that answer.
type lagCollector struct {
	lag     func(ctx context.Context) (kadm.DescribedGroupLags, error)
	timeout time.Duration
	maxAge  time.Duration
	now     func() time.Time
	log     *slog.Logger
	desc    *prometheus.Desc

	mu   sync.Mutex
	at   time.Time
	last []prometheus.Metric
}

// lagMaxAge is how long one answer of the broker serves scrapes.
const lagMaxAge = 10 * time.Second

func newLagCollector(adm *kadm.Client, groups []string, log *slog.Logger) *lagCollector {
	return &lagCollector{lag: func(ctx context.Context) (kadm.DescribedGroupLags, error) { return adm.Lag(ctx, groups...) },
		timeout: 3 * time.Second, maxAge: lagMaxAge, now: time.Now, log: log,
		desc: prometheus.NewDesc("eventops_consumer_lag", "Records not yet consumed by a group, per topic and partition.",
			[]string{"group", "topic", "partition"}, nil)}
}

func (l *lagCollector) Describe(ch chan<- *prometheus.Desc) { ch <- l.desc }

func (l *lagCollector) Collect(ch chan<- prometheus.Metric) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now := l.now(); l.at.IsZero() || now.Sub(l.at) >= l.maxAge {
		l.last, l.at = l.fetch(), now
	}
	for _, m := range l.last {
		ch <- m
	}
}

func (l *lagCollector) fetch() []prometheus.Metric {
	ctx, cancel := context.WithTimeout(context.Background(), l.timeout)
	defer cancel()
	lags, err := l.lag(ctx)
	if err != nil {
		l.log.Warn("consumer lag", "err", err)
		return nil
	}
	var out []prometheus.Metric
	lags.Each(func(g kadm.DescribedGroupLag) {
		if g.Error() != nil {
			return
		}
		for _, m := range g.Lag.Sorted() {
			if m.Err != nil || m.Lag < 0 {
				continue
			}
			out = append(out, prometheus.MustNewConstMetric(l.desc, prometheus.GaugeValue, float64(m.Lag),
				g.Group, m.Topic, strconv.Itoa(int(m.Partition))))
		}
	})
	return out
}
