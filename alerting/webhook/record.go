package webhook

import (
	"context"

	"github.com/headroomhq/headroom/store"
)

// StoreRecorder records notifications in Headroom's store.
type StoreRecorder struct{ DB *store.DB }

// Record implements Recorder.
func (r StoreRecorder) Record(ctx context.Context, ns []Notification) ([]Notification, error) {
	idx, err := r.DB.RecordAlertNotifications(ctx, ns)
	if err != nil {
		return nil, err
	}
	fresh := make([]Notification, len(idx))
	for i, j := range idx {
		fresh[i] = ns[j]
	}
	return fresh, nil
}
