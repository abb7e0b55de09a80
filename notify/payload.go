package notify

import (
	"time"

	"github.com/eventops/eventops/rules"
)

// Message is Alertmanager's webhook payload, version 4.
type Message struct {
	Version           string            `json:"version"`
	GroupKey          string            `json:"groupKey"`
	TruncatedAlerts   int               `json:"truncatedAlerts"`
	Status            string            `json:"status"`
	Receiver          string            `json:"receiver"`
	GroupLabels       map[string]string `json:"groupLabels"`
	CommonLabels      map[string]string `json:"commonLabels"`
	CommonAnnotations map[string]string `json:"commonAnnotations"`
	ExternalURL       string            `json:"externalURL"`
	Alerts            []MessageAlert    `json:"alerts"`
}

// MessageAlert is one alert of a Message.
type MessageAlert struct {
	Status       string            `json:"status"`
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL"`
	Fingerprint  string            `json:"fingerprint"`
	// Explanation is why the alert fired or resolved (rules.Explanation),
	// a field Alertmanager receivers do not know and ignore; absent when
	// the transition carried none.
	Explanation *rules.Explanation `json:"explanation,omitempty"`
}

// NewMessage builds the payload of a notification of alerts to receiver.
// maxAlerts > 0 keeps the first maxAlerts alerts and counts the others in
// TruncatedAlerts; the common labels and annotations are those of all.
func NewMessage(receiver, groupKey string, groupLabels map[string]string, alerts []Alert, externalURL string, maxAlerts int) *Message {
	m := &Message{
		Version: "4", GroupKey: groupKey, Status: StatusResolved, Receiver: receiver,
		GroupLabels: copyLabels(groupLabels), ExternalURL: externalURL,
		CommonLabels: map[string]string{}, CommonAnnotations: map[string]string{},
		Alerts: make([]MessageAlert, 0, len(alerts)),
	}
	for i, a := range alerts {
		if a.Status == StatusFiring {
			m.Status = StatusFiring
		}
		if i == 0 {
			m.CommonLabels, m.CommonAnnotations = copyLabels(a.Labels), copyLabels(a.Annotations)
		} else {
			intersect(m.CommonLabels, a.Labels)
			intersect(m.CommonAnnotations, a.Annotations)
		}
		if maxAlerts > 0 && len(m.Alerts) >= maxAlerts {
			m.TruncatedAlerts++
			continue
		}
		m.Alerts = append(m.Alerts, MessageAlert{
			Status: a.Status, Labels: copyLabels(a.Labels), Annotations: copyLabels(a.Annotations),
			StartsAt: a.StartsAt.UTC(), EndsAt: a.EndsAt.UTC(), GeneratorURL: a.GeneratorURL, Fingerprint: a.Fingerprint,
			Explanation: a.Explanation,
		})
	}
	return m
}

func copyLabels(in map[string]string) map[string]string {
	out := make(map[string]string, len(in))
	for k, v := range in {
		out[k] = v
	}
	return out
}

// intersect keeps in common the pairs that other has too.
func intersect(common, other map[string]string) {
	for k, v := range common {
		if ov, ok := other[k]; !ok || ov != v {
			delete(common, k)
		}
	}
}
