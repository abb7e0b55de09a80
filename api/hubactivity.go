package api

// activityBuffer bounds the activity events waiting for one client.
const activityBuffer = 64

// ActivityEvent is something a person did with an alert episode
// (acknowledged, assigned, noted), as the alert stream sends it: an event
// of its own type, "activity", whose data is the store.Activity. The
// replica that took the request fans it out to its streams at once; it has
// no place in ops.alert.v1, so it is live only (a resuming stream is not
// replayed it: GET /alerts/{id}/activity has the whole trail).
type ActivityEvent struct {
	Tenant, Host, Severity, State, EpisodeID string
	Data                                     []byte
}

// PublishActivity fans ev out to the subscribers whose filter takes its
// episode; like Publish, it never blocks: a subscriber that fell behind
// is dropped.
func (h *Hub) PublishActivity(ev ActivityEvent) {
	probe := AlertEvent{Tenant: ev.Tenant, Host: ev.Host, Severity: ev.Severity, State: ev.State, EpisodeID: ev.EpisodeID}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, group := range []map[*Subscriber]struct{}{h.subs[ev.Tenant], h.subs[""]} {
		for s := range group {
			if !s.filter(probe) {
				continue
			}
			select {
			case s.Activity <- ev:
			default:
				h.remove(s)
				h.dropped.Inc()
				s.drop()
			}
		}
	}
}

// Active returns tenant's pending or firing episode as the hub last saw
// it: the stream shows a transition before the sink has written it.
func (h *Hub) Active(tenant, episodeID string) (AlertEvent, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	ev, ok := h.active[episodeID]
	if !ok || ev.Tenant != tenant {
		return AlertEvent{}, false
	}
	return ev, true
}
