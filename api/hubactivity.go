package api

import (
	"strings"

	"github.com/eventops/eventops/tables"
)

// activityBuffer bounds the activity events waiting for one client.
const activityBuffer = 64

// activitySeen bounds the activity ids the hub remembers so as not to send
// one twice.
const activitySeen = 4096

// ActivityEvent is something a person did with an alert episode
// (acknowledged, assigned, noted), as the alert stream sends it: an event
// of its own type, "activity", whose data is the store.Activity. The
// replica that took the request publishes it to ops.alert.activity.v1, and
// every replica's alert feed hands it to its hub with its place there
// (when the publish fails, the replica that took it hands it to its own
// hub alone, with Offset -1).
type ActivityEvent = tables.ActivityRecord

// InitActivity sets the partitions of ops.alert.activity.v1 and the
// offsets the hub starts reading them at, before the first activity of
// the topic. Without it, activity is live only: a stream's id holds no
// place in the topic, and a resuming client is not replayed any.
func (h *Hub) InitActivity(start []int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.actNext = append(Position(nil), start...)
	h.actFrom = append(Position(nil), start...)
}

// PublishActivity fans ev out to the subscribers whose filter takes its
// episode, once per activity id however often it comes; like Publish, it
// never blocks: a subscriber that fell behind is dropped. An activity of
// the topic is kept for resuming clients. Activities of a partition must
// come in offset order.
func (h *Hub) PublishActivity(ev ActivityEvent) {
	probe := activityProbe(ev)
	h.mu.Lock()
	defer h.mu.Unlock()
	placed := ev.Offset >= 0 && int(ev.Partition) < len(h.actNext)
	// A record read before (at a place the hub has passed) is not kept twice.
	fresh := placed && ev.Offset >= h.actNext[ev.Partition]
	if placed {
		h.actNext = advanceAt(h.actNext, ev.Partition, ev.Offset)
		h.tenantActNext[ev.Tenant] = advanceAt(h.tenantActNext[ev.Tenant], ev.Partition, ev.Offset)
	}
	if fresh {
		// Kept even when sent already (by this replica, before the topic
		// brought it): a client that was away then is replayed it, as by
		// every other replica.
		h.keepActivity(ev)
	}
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

// activityProbe is what a subscriber's filter judges an activity by: its
// episode as it stood when the activity was taken.
func activityProbe(ev ActivityEvent) AlertEvent {
	return AlertEvent{Tenant: ev.Tenant, Host: ev.Host, Severity: ev.Severity, State: ev.State, EpisodeID: ev.EpisodeID}
}

// ResumeActivity returns where s's activity starts in
// ops.alert.activity.v1 and, for a client that resumes from resume (a
// place this hub can still serve), the activity its filter takes that it
// missed, oldest first; for another client, where the hub stood when s
// subscribed. The place is nil when the hub does not read the topic.
// Activity published from the Subscribe on reaches s.Activity as well: the
// stream skips what is before its place.
func (h *Hub) ResumeActivity(s *Subscriber, resume Position) (Position, []ActivityEvent) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.actNext == nil {
		return nil, nil
	}
	if !h.activityResumable(resume) {
		if len(s.actAt) == 0 {
			return append(Position(nil), h.actNext...), nil
		}
		return append(Position(nil), s.actAt...), nil
	}
	var replay []ActivityEvent
	for i := range h.actRingLen {
		ev := h.actRing[(h.actRingStart+i)%len(h.actRing)]
		if ev.Offset >= resume[ev.Partition] && s.filter(activityProbe(ev)) {
			replay = append(replay, ev)
		}
	}
	return append(Position(nil), resume...), replay
}

// activityResumable reports whether every activity at or after p is in the
// ring or not yet read.
func (h *Hub) activityResumable(p Position) bool {
	if len(p) == 0 || len(p) != len(h.actNext) {
		return false
	}
	for i, o := range p {
		if o < h.actFrom[i] {
			return false
		}
	}
	return true
}

// CaughtActivity is Caught for activity: the place past every activity
// published for s, if all of them have been taken from s.Activity.
func (h *Hub) CaughtActivity(s *Subscriber) (Position, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return caughtAt(h.actNext, h.tenantActNext, s.tenant, len(s.Activity))
}

// keepActivity puts ev into the activity ring, evicting the oldest.
func (h *Hub) keepActivity(ev ActivityEvent) {
	if len(h.actRing) == 0 {
		h.actRing = make([]ActivityEvent, h.opts.ActivityReplay)
	}
	if h.actRingLen == len(h.actRing) {
		old := h.actRing[h.actRingStart]
		h.actFrom[old.Partition] = max(h.actFrom[old.Partition], old.Offset+1)
		h.actRing[h.actRingStart] = ev
		h.actRingStart = (h.actRingStart + 1) % len(h.actRing)
		return
	}
	h.actRing[(h.actRingStart+h.actRingLen)%len(h.actRing)] = ev
	h.actRingLen++
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

// streamID is a stream's event id: its place in ops.alert.v1 and, when the
// hub reads ops.alert.activity.v1, its place there after a '~'.
func streamID(pos, act Position) string {
	if act == nil {
		return pos.String()
	}
	return pos.String() + "~" + act.String()
}

// parseStreamID reads an id written by streamID (or, without '~', by a
// server that did not write activity places): nil for what it did not
// write.
func parseStreamID(id string) (pos, act Position) {
	alerts, activity, ok := strings.Cut(id, "~")
	pos, _ = ParsePosition(alerts)
	if ok {
		act, _ = ParsePosition(activity)
	}
	return pos, act
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
