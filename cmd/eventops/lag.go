package main

import (
	"context"
	"log/slog"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
)

// lagCollector reports the consumer lag of EventOps's groups per topic and
// partition, asked of the broker at every scrape (kadm's Lag: the end
// offset minus the group's committed offset).
type lagCollector struct {
	adm     *kadm.Client
	groups  []string
	timeout time.Duration
	log     *slog.Logger
	desc    *prometheus.Desc
}

func newLagCollector(adm *kadm.Client, groups []string, log *slog.Logger) *lagCollector {
	return &lagCollector{adm: adm, groups: groups, timeout: 3 * time.Second, log: log,
		desc: prometheus.NewDesc("eventops_consumer_lag", "Records not yet consumed by a group, per topic and partition.",
			[]string{"group", "topic", "partition"}, nil)}
}

func (l *lagCollector) Describe(ch chan<- *prometheus.Desc) { ch <- l.desc }

func (l *lagCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), l.timeout)
	defer cancel()
	lags, err := l.adm.Lag(ctx, l.groups...)
	if err != nil {
		l.log.Warn("consumer lag", "err", err)
		return
	}
	lags.Each(func(g kadm.DescribedGroupLag) {
		if g.Error() != nil {
			return
		}
		for _, m := range g.Lag.Sorted() {
			if m.Err != nil || m.Lag < 0 {
				continue
			}
			ch <- prometheus.MustNewConstMetric(l.desc, prometheus.GaugeValue, float64(m.Lag),
				g.Group, m.Topic, strconv.Itoa(int(m.Partition)))
		}
	})
}
