package actors

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/eventops/eventops/notify"
)

// AckReader reads which alert episodes are acknowledged (store.Store):
// of tenant's episodes, those whose ack holds at the time at, each with
// when its ack expires (zero: when the episode resolves).
type AckReader interface {
	Acknowledged(ctx context.Context, tenant string, episodes []string, at time.Time) (map[string]time.Time, error)
}

// ackReadTimeout bounds the read of acks before a reminder: the webhook's
// actor waits for it.
const ackReadTimeout = 2 * time.Second

// ackHook is the notifier's one hook for acknowledgements: before a
// repeat_interval reminder, a group asks it which of its episodes are
// acknowledged (notify.Group.SetAcks).
//
// It reads PostgreSQL, where the API writes every ack (alert_acks), rather
// than taking acks from a topic: the API replica that takes an ack and the
// notify replica that owns the episode's partition may be different
// processes, and an ack matters only at repeat time, minutes to hours
// after it was given, so a read then is cheap and always current. It holds
// across restarts and rebalances with nothing to rebuild: whichever
// replica owns the partition after them reads the same row. When the read
// fails the reminder goes out (a reminder too many rather than an alert
// nobody hears of again), logged and counted.
type ackHook struct {
	reader   AckReader
	log      *slog.Logger
	left     prometheus.Counter
	failures prometheus.Counter
}

func newAckHook(opts NotifierOptions) *ackHook {
	h := &ackHook{reader: opts.Acks, log: opts.Logger,
		left: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "eventops_notify_reminders_acknowledged_total",
			Help: "Alert episodes left out of a repeat_interval reminder because they are acknowledged.",
		}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "eventops_notify_ack_lookup_errors_total",
			Help: "Failed reads of acknowledgements before a reminder (the reminder was sent).",
		}),
	}
	if h.reader == nil {
		h.reader, _ = opts.Store.(AckReader)
	}
	if opts.Registerer != nil {
		opts.Registerer.MustRegister(h.left, h.failures)
	}
	return h
}

// acknowledged is a notify.AckFunc: the acks in force at now of alerts
// (of one tenant: a group never mixes tenants).
func (h *ackHook) acknowledged(alerts []notify.Alert, now time.Time) notify.Acks {
	if h.reader == nil || len(alerts) == 0 {
		return nil
	}
	byTenant := map[string][]string{}
	for _, a := range alerts {
		byTenant[a.Tenant] = append(byTenant[a.Tenant], a.EpisodeID)
	}
	ctx, cancel := context.WithTimeout(context.Background(), ackReadTimeout)
	defer cancel()
	out := notify.Acks{}
	for tenant, eps := range byTenant {
		acks, err := h.reader.Acknowledged(ctx, tenant, eps, now)
		if err != nil {
			h.failures.Inc()
			h.log.Warn("reading acknowledgements failed; the reminder is sent", "tenant", tenant, "err", err)
			continue
		}
		for ep, exp := range acks {
			out[ep] = exp
		}
	}
	h.left.Add(float64(len(out)))
	return out
}
