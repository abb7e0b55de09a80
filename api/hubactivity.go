package api

import "github.com/eventops/eventops/tables"

// activityBuffer bounds the activity events waiting for one client.
const activityBuffer = 64

// activitySeen bounds the activity ids the hub remembers so as not to send
// one twice.
const activitySeen = 4096

// ActivityEvent is something a person did with an alert episode
// (acknowledged, assigned, noted), as the alert stream sends it: an event
// of its own type, "activity", whose data is the store.Activity. The
// replica that took the request publishes it to ops.alert.activity.v1, and
// every replica's alert feed hands it to its hub (when the publish fails,
// the replica that took it hands it to its own hub alone). It is live
// only: a resuming stream is not replayed it (GET /alerts/{id}/activity
// has the whole trail).
type ActivityEvent = tables.ActivityRecord

// PublishActivity fans ev out to the subscribers whose filter takes its
// episode, once per activity id however often it comes; like Publish, it
// never blocks: a subscriber that fell behind is dropped.
func (h *Hub) PublishActivity(ev ActivityEvent) {
	probe := AlertEvent{Tenant: ev.Tenant, Host: ev.Host, Severity: ev.Severity, State: ev.State, EpisodeID: ev.EpisodeID}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.activitySent(ev.ID) {
		return
	}
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

// activitySent reports whether the activity of id was fanned out already,
// and remembers it otherwise (h.mu held). An activity comes twice when a
// publish the broker took was reported failed, and the replica that took
// it sent it to its streams as well as the topic did.
func (h *Hub) activitySent(id int64) bool {
	if id == 0 {
		return false
	}
	if _, ok := h.activityIDs[id]; ok {
		return true
	}
	if h.activityIDs == nil {
		h.activityIDs = make(map[int64]struct{}, activitySeen)
	}
	if len(h.activityOrder) == activitySeen {
		delete(h.activityIDs, h.activityOrder[0])
		h.activityOrder = h.activityOrder[1:]
	}
	h.activityIDs[id] = struct{}{}
	h.activityOrder = append(h.activityOrder, id)
	return false
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
