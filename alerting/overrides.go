package alerting

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/headroomhq/headroom/config"
	"github.com/headroomhq/headroom/limiter/overrides"
)

// ActorPrefix starts the audit actor of every override a playbook writes:
// "playbook:" followed by the alert name the playbook handles. The
// override service knows such an actor for a playbook's
// (overrides.IsPlaybook).
const ActorPrefix = overrides.PlaybookActor + ":"

type playbookKey struct{}

// withPlaybook names the playbook acting in ctx, for the audit trail.
func withPlaybook(ctx context.Context, alert string) context.Context {
	return context.WithValue(ctx, playbookKey{}, alert)
}

// PlaybookActor returns the audit actor for the playbook acting in ctx:
// "playbook:ALERTNAME", or "playbook" outside a playbook.
func PlaybookActor(ctx context.Context) string {
	if a, ok := ctx.Value(playbookKey{}).(string); ok && a != "" {
		return ActorPrefix + a
	}
	return overrides.PlaybookActor
}

// ServiceOverrides is the Overrides that `headroom serve` gives the engine.
// Raised margins and caps are overrides written through the override
// service, the same path the API writes an operator's through: validated
// against the configuration in force, stored with an audit record in one
// transaction, the actor being the playbook, and replanned at once.
// ForceRound asks the round loop for a round now.
//
// The service enforces that a playbook never replaces or removes an
// override an operator wrote: the action fails and the incident records
// why. Lifting an override that somebody changed since the playbook wrote
// it leaves it in place and says so.
type ServiceOverrides struct {
	Service *overrides.Service
	// Force asks for a limiter round now; with burst every change is
	// written, however small (round.Loop.ForceRound).
	Force func(ctx context.Context, group string, burst bool) error
}

var _ Overrides = (*ServiceOverrides)(nil)

// ForceRound implements Overrides.
func (s *ServiceOverrides) ForceRound(ctx context.Context, group string, burst bool) error {
	if s.Force == nil {
		return errors.New("force round: no round loop")
	}
	return s.Force(ctx, group, burst)
}

// RaiseMargin implements Overrides: a group override {margin} until until.
func (s *ServiceOverrides) RaiseMargin(ctx context.Context, group string, margin float64, until time.Time) (OverrideRef, error) {
	spec := overrides.Spec{Margin: &margin, ExpiresAt: &until,
		Reason: fmt.Sprintf("%s raised the margin to %v", PlaybookActor(ctx), margin)}
	ref := OverrideRef{Kind: "margin", Group: group, Value: margin, Until: until}
	return s.put(ctx, overrides.KindGroup, group, spec, ref)
}

// CapProject implements Overrides: a project override whose ceiling is
// ceiling in both directions until until. A share or floor above the cap
// comes down to it, so that the cap is a ceiling the configuration accepts.
func (s *ServiceOverrides) CapProject(ctx context.Context, project string, ceiling float64, until time.Time) (OverrideRef, error) {
	cfg := s.Service.Config()
	var p *config.ProjectConfig
	for i := range cfg.Projects {
		if cfg.Projects[i].Name == project {
			p = &cfg.Projects[i]
		}
	}
	if p == nil {
		return OverrideRef{}, fmt.Errorf("cap project %q: unknown project", project)
	}
	c := config.Rate(ceiling)
	capped := func(q config.QuotaConfig) *overrides.Quota {
		out := &overrides.Quota{Ceiling: &c}
		if q.Share > c {
			out.Share = &c
		}
		if q.Floor > c {
			out.Floor = &c
		}
		return out
	}
	spec := overrides.Spec{Produce: capped(p.Produce), Fetch: capped(p.Fetch), ExpiresAt: &until,
		Reason: fmt.Sprintf("%s capped the project at %s", PlaybookActor(ctx), c)}
	ref := OverrideRef{Kind: "cap", Group: p.Group, Project: project, Value: ceiling, Until: until}
	return s.put(ctx, overrides.KindProject, project, spec, ref)
}

func (s *ServiceOverrides) put(ctx context.Context, kind, name string, spec overrides.Spec, ref OverrideRef) (OverrideRef, error) {
	o, err := s.Service.Put(ctx, overrides.Change{Kind: kind, Name: name, Spec: spec, Actor: PlaybookActor(ctx)})
	if err != nil {
		return OverrideRef{}, err
	}
	ref.ID, ref.Version = kind+"/"+name, o.Version
	return ref, nil
}

// Lift implements Overrides: it removes the override the playbook wrote,
// with an audit record. One that is gone (expired and pruned, or removed)
// is not an error; one that somebody changed since is left in place, and
// the error says so.
func (s *ServiceOverrides) Lift(ctx context.Context, ref OverrideRef) error {
	kind, name, ok := strings.Cut(ref.ID, "/")
	if !ok {
		return fmt.Errorf("lift override: malformed reference %q", ref.ID)
	}
	err := s.Service.Delete(ctx, overrides.Change{Kind: kind, Name: name, Actor: PlaybookActor(ctx), Version: ref.Version})
	if errors.Is(err, overrides.ErrNotFound) {
		return nil
	}
	return err
}
