package tables

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// ErrBadActivity is wrapped by every error of DecodeActivity and
// EncodeActivity: the value is not an alert activity record.
var ErrBadActivity = errors.New("not an alert activity record")

// MaxActivityRecord bounds the value of an activity record: a note is at
// most a few KiB.
const MaxActivityRecord = 64 << 10

// ActivityRecord is one thing a person did with an alert episode
// (acknowledged, assigned, noted), as the API that took it publishes it to
// ops.alert.activity.v1 after PostgreSQL has it, and as every replica's
// alert feed reads it back for its streams. Tenant, Host, Severity and State
// say which streams may see it (the episode as it stood then); Activity is
// the audit row's JSON, which the streams send as it is.
type ActivityRecord struct {
	Tenant    string `json:"tenant"`
	Host      string `json:"host,omitempty"`
	Severity  string `json:"severity,omitempty"`
	State     string `json:"state,omitempty"`
	EpisodeID string `json:"episode_id"`
	// ID is the audit row's id: one activity is one ID on every replica.
	ID       int64           `json:"id"`
	Activity json.RawMessage `json:"activity"`
	// Partition and Offset place the record in ops.alert.activity.v1, as
	// the alert feed read it (the same on every replica); Offset is -1 for
	// an activity that did not come through the topic.
	Partition int32 `json:"-"`
	Offset    int64 `json:"-"`
}

// ActivityKey is the key of an activity record: its tenant and episode, so
// that an episode's activity keeps its order.
func ActivityKey(tenant, episodeID string) string { return tenant + KeySep + episodeID }

// EncodeActivity encodes r as the value of its ops.alert.activity.v1
// record (JSON, like the alert transitions), refusing what DecodeActivity
// refuses.
func EncodeActivity(r ActivityRecord) ([]byte, error) {
	if err := checkActivity(&r); err != nil {
		return nil, err
	}
	v, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadActivity, err)
	}
	if len(v) > MaxActivityRecord {
		return nil, fmt.Errorf("%w: %d bytes, more than %d", ErrBadActivity, len(v), MaxActivityRecord)
	}
	return v, nil
}

// DecodeActivity decodes the value of an ops.alert.activity.v1 record. The
// activity comes back compacted, on one line, as a stream's data line
// needs it.
func DecodeActivity(data []byte) (ActivityRecord, error) {
	var r ActivityRecord
	if len(data) > MaxActivityRecord {
		return r, fmt.Errorf("%w: %d bytes, more than %d", ErrBadActivity, len(data), MaxActivityRecord)
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return ActivityRecord{}, fmt.Errorf("%w: %w", ErrBadActivity, err)
	}
	if err := checkActivity(&r); err != nil {
		return ActivityRecord{}, err
	}
	return r, nil
}

func checkActivity(r *ActivityRecord) error {
	switch {
	case r.Tenant == "" || r.EpisodeID == "":
		return fmt.Errorf("%w: no tenant or episode_id", ErrBadActivity)
	case r.ID <= 0:
		return fmt.Errorf("%w: no id", ErrBadActivity)
	case len(r.Activity) == 0 || r.Activity[0] != '{':
		return fmt.Errorf("%w: activity is not a JSON object", ErrBadActivity)
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, r.Activity); err != nil {
		return fmt.Errorf("%w: activity: %w", ErrBadActivity, err)
	}
	r.Activity = buf.Bytes()
	// The activity says whose it is as well: it must be the record's.
	var own struct {
		Tenant    *string `json:"tenant"`
		EpisodeID *string `json:"episode_id"`
		ID        *int64  `json:"id"`
	}
	if err := json.Unmarshal(r.Activity, &own); err != nil {
		return fmt.Errorf("%w: activity: %w", ErrBadActivity, err)
	}
	if own.Tenant != nil && *own.Tenant != r.Tenant || own.EpisodeID != nil && *own.EpisodeID != r.EpisodeID || own.ID != nil && *own.ID != r.ID {
		return fmt.Errorf("%w: the activity's tenant, episode_id or id is not the record's", ErrBadActivity)
	}
	return nil
}
