package daemon

import (
	"context"
	"time"

	"github.com/headroomhq/headroom/config"
	"github.com/headroomhq/headroom/limiter/overrides"
	"github.com/headroomhq/headroom/round"
	"github.com/headroomhq/headroom/store"
)

// overrideService is the playbooks' override service: the same write path
// the API builds over the same store (api.Options.OnOverride asks for the
// round there), with a change replanned by a round at once.
func overrideService(live func() *config.Config, db *store.DB, loop *round.Loop, now func() time.Time) *overrides.Service {
	return &overrides.Service{Store: db, Config: live, Now: now,
		Replan: func(ctx context.Context, group string) { _ = loop.ForceRound(ctx, group, false) }}
}
