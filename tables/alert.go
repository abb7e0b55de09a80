package tables

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/eventops/eventops/rules"
)

// ErrBadAlert is wrapped by every error of DecodeAlert and EncodeAlert: the
// value is not an alert transition that every reader of ops.alert.v1 (the
// sink, the notify stage, the alert stream) takes.
var ErrBadAlert = errors.New("not an alert transition")

// MaxAlertRecord bounds the value of an alert transition's record, well
// under the 1 MiB a broker takes by default.
const MaxAlertRecord = 256 << 10

// EncodeAlert encodes a transition as the value of its ops.alert.v1 record:
// JSON, because users automate from it. Annotations are rendered from
// templates over source metadata, so they may be long: when the whole would
// not fit in MaxAlertRecord, each is cut, and if that is not enough they are
// replaced by one that says so (tr's annotations change then). A transition
// that DecodeAlert would refuse is refused here, so that no stage writes a
// record that the others send to the DLQ.
func EncodeAlert(tr *rules.Transition) ([]byte, error) {
	if err := checkAlert(tr); err != nil {
		return nil, err
	}
	v, err := json.Marshal(tr)
	if err != nil || len(v) <= MaxAlertRecord {
		return v, alertError(err)
	}
	const keep = 1 << 10
	for name, text := range tr.Annotations {
		if len(text) > keep {
			tr.Annotations[name] = text[:keep] + "… (cut)"
		}
	}
	if v, err = json.Marshal(tr); err != nil || len(v) <= MaxAlertRecord {
		return v, alertError(err)
	}
	tr.Annotations = map[string]string{"eventops_cut": "the annotations did not fit in an alert record"}
	v, err = json.Marshal(tr)
	return v, alertError(err)
}

// DecodeAlert decodes the value of an ops.alert.v1 record. It is the one
// decoder and the one validation of a transition: a value is JSON of the
// shape of rules.Transition, with an episode, a source (tenant and host)
// and one of the four states. What it refuses, every reader refuses alike.
func DecodeAlert(data []byte) (*rules.Transition, error) {
	var tr rules.Transition
	if err := json.Unmarshal(data, &tr); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadAlert, err)
	}
	if err := checkAlert(&tr); err != nil {
		return nil, err
	}
	return &tr, nil
}

func checkAlert(tr *rules.Transition) error {
	switch {
	case tr.EpisodeID == "":
		return fmt.Errorf("%w: no episode_id", ErrBadAlert)
	case tr.Tenant == "" || tr.Host == "":
		return fmt.Errorf("%w: no tenant or host", ErrBadAlert)
	}
	switch tr.State {
	case rules.StatePending, rules.StateFiring, rules.StateResolved, rules.StateInactive:
		return nil
	}
	return fmt.Errorf("%w: state %q is not pending, firing, resolved or inactive", ErrBadAlert, tr.State)
}

func alertError(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%w: %w", ErrBadAlert, err)
}

// AlertRecord is one record of ops.alert.v1 as the alert feed read it, with
// its place in the topic. A record that is not an alert transition has no
// EpisodeID: only its place counts.
type AlertRecord struct {
	// Partition and Offset place the record in ops.alert.v1: the same on
	// every replica.
	Partition int32
	Offset    int64
	// Data is the record's value, the transition's JSON.
	Data      []byte
	Tenant    string
	Host      string
	Severity  string
	State     string
	EpisodeID string
	// At is the broker time of the record.
	At time.Time
}
