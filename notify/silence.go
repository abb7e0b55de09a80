package notify

import "time"

// Silence mutes the alerts its matchers match between StartsAt and EndsAt.
// Silences belong to a tenant; callers hand a tenant's silences only to
// that tenant's alerts.
type Silence struct {
	ID       string
	Matchers Matchers
	StartsAt time.Time
	EndsAt   time.Time
}

// Active reports whether the silence is in force at now.
func (s Silence) Active(now time.Time) bool { return !now.Before(s.StartsAt) && now.Before(s.EndsAt) }

// Mutes reports whether the silence mutes an alert with labels at now.
func (s Silence) Mutes(labels map[string]string, now time.Time) bool {
	return s.Active(now) && s.Matchers.Matches(labels)
}

// Muted returns the IDs of the silences that mute labels at now.
func Muted(silences []Silence, labels map[string]string, now time.Time) []string {
	var ids []string
	for _, s := range silences {
		if s.Mutes(labels, now) {
			ids = append(ids, s.ID)
		}
	}
	return ids
}
