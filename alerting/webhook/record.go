package webhook

import (
	"context"

	"github.com/headroomhq/headroom/store"
)

// StoreRecorder records notifications in Headroom's store.
type StoreRecorder struct{ DB *store.DB }

// Record implements Recorder.
func (r StoreRecorder) Record(ctx context.Context, ns []Notification) ([]Notification, error) {
	rows := make([]store.AlertNotification, len(ns))
	for i, n := range ns {
		rows[i] = store.AlertNotification{
			Key: n.Key, GroupKey: n.GroupKey, Receiver: n.Receiver, Fingerprint: n.Fingerprint,
			Status: n.Status, AlertName: n.AlertName, Labels: n.Labels, Annotations: n.Annotations,
			StartsAt: n.StartsAt, EndsAt: n.EndsAt, GeneratorURL: n.GeneratorURL, ReceivedAt: n.ReceivedAt,
		}
	}
	idx, err := r.DB.RecordAlertNotifications(ctx, rows)
	if err != nil {
		return nil, err
	}
	fresh := make([]Notification, len(idx))
	for i, j := range idx {
		fresh[i] = ns[j]
	}
	return fresh, nil
}
