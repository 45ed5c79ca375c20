package notifier

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-openapi/strfmt"
	"github.com/prometheus/alertmanager/api/v2/client/silence"
	"github.com/prometheus/alertmanager/api/v2/models"
)

// Silence mutes alerts whose labels equal every matcher.
type Silence struct {
	Matchers  map[string]string
	StartsAt  time.Time
	EndsAt    time.Time
	CreatedBy string
	Comment   string
}

// SilenceIDs maps each Alertmanager URL to the id of the silence it holds.
type SilenceIDs map[string]string

// CreateSilence posts s to every Alertmanager. Members of an HA pair that do
// not gossip would otherwise disagree; members that do get one copy each,
// which is harmless. It returns the ids it got, and an error naming each
// Alertmanager that refused.
func (n *Notifier) CreateSilence(ctx context.Context, s Silence) (SilenceIDs, error) {
	if len(s.Matchers) == 0 {
		return nil, errors.New("create silence: at least one matcher is required")
	}
	if !s.EndsAt.After(s.StartsAt) {
		return nil, fmt.Errorf("create silence: ends at %s, not after its start %s", s.EndsAt, s.StartsAt)
	}
	var ms models.Matchers
	for name, value := range s.Matchers {
		isEqual, isRegex := true, false
		ms = append(ms, &models.Matcher{Name: ptr(name), Value: ptr(value), IsEqual: &isEqual, IsRegex: &isRegex})
	}
	starts, ends := strfmt.DateTime(s.StartsAt.UTC()), strfmt.DateTime(s.EndsAt.UTC())
	body := &models.PostableSilence{Silence: models.Silence{
		Matchers: ms, StartsAt: &starts, EndsAt: &ends, CreatedBy: ptr(s.CreatedBy), Comment: ptr(s.Comment),
	}}
	ids := SilenceIDs{}
	var errs []error
	for _, t := range n.snapshot() {
		cctx, cancel := context.WithTimeout(ctx, n.opts.Timeout)
		resp, err := t.api.Silence.PostSilences(silence.NewPostSilencesParamsWithContext(cctx).WithSilence(body))
		cancel()
		if err != nil {
			errs = append(errs, fmt.Errorf("create silence on %s: %w", t.label, err))
			continue
		}
		ids[t.url] = resp.Payload.SilenceID
	}
	return ids, errors.Join(errs...)
}

// ExpireSilence deletes the silences in ids. A silence that is already gone
// counts as deleted.
func (n *Notifier) ExpireSilence(ctx context.Context, ids SilenceIDs) error {
	var errs []error
	for _, t := range n.snapshot() {
		id, ok := ids[t.url]
		if !ok {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, n.opts.Timeout)
		_, err := t.api.Silence.DeleteSilence(silence.NewDeleteSilenceParamsWithContext(cctx).WithSilenceID(strfmt.UUID(id)))
		cancel()
		var nf *silence.DeleteSilenceNotFound
		if err != nil && !errors.As(err, &nf) {
			errs = append(errs, fmt.Errorf("expire silence %s on %s: %w", id, t.label, err))
		}
	}
	return errors.Join(errs...)
}

func ptr[T any](v T) *T { return &v }
