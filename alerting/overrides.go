package alerting

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/headroomhq/headroom/config"
	"github.com/headroomhq/headroom/overrides"
	"github.com/headroomhq/headroom/store"
)

// ActorPrefix starts the audit actor of every override a playbook writes:
// "playbook:" followed by the alert name the playbook handles.
const ActorPrefix = "playbook:"

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
	return "playbook"
}

// StoreOverrides is the Overrides that `headroom serve` gives the engine.
// Raised margins and caps are overrides in the store, written the way the
// API writes an operator's: validated with overrides.Validate against the
// configuration in force, stored with store.PutOverride and an audit record
// in one transaction, the actor being the playbook. The next round plans
// with them, and a round is asked for at once. ForceRound asks the round
// loop for a round now.
//
// A playbook never replaces or removes an override an operator wrote: the
// action fails and the incident records why. Lifting an override that
// somebody changed since the playbook wrote it leaves it in place and says
// so.
type StoreOverrides struct {
	Store *store.DB
	// Config returns the configuration in force.
	Config func() *config.Config
	// Force asks for a limiter round now; with burst every change is
	// written, however small (round.Loop.ForceRound).
	Force func(ctx context.Context, group string, burst bool) error
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

var _ Overrides = (*StoreOverrides)(nil)

func (s *StoreOverrides) now() time.Time {
	if s.Now == nil {
		return time.Now()
	}
	return s.Now()
}

// ForceRound implements Overrides.
func (s *StoreOverrides) ForceRound(ctx context.Context, group string, burst bool) error {
	if s.Force == nil {
		return errors.New("force round: no round loop")
	}
	return s.Force(ctx, group, burst)
}

// RaiseMargin implements Overrides: a group override {margin} until until.
func (s *StoreOverrides) RaiseMargin(ctx context.Context, group string, margin float64, until time.Time) (OverrideRef, error) {
	spec := overrides.Spec{Margin: &margin, ExpiresAt: &until,
		Reason: fmt.Sprintf("%s raised the margin to %v", PlaybookActor(ctx), margin)}
	ref := OverrideRef{Kind: "margin", Group: group, Value: margin, Until: until}
	return s.put(ctx, overrides.KindGroup, group, group, spec, ref)
}

// CapProject implements Overrides: a project override whose ceiling is
// ceiling in both directions until until. A share or floor above the cap
// comes down to it, so that the cap is a ceiling the configuration accepts.
func (s *StoreOverrides) CapProject(ctx context.Context, project string, ceiling float64, until time.Time) (OverrideRef, error) {
	cfg := s.Config()
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
	return s.put(ctx, overrides.KindProject, project, p.Group, spec, ref)
}

func (s *StoreOverrides) put(ctx context.Context, kind, name, group string, spec overrides.Spec, ref OverrideRef) (OverrideRef, error) {
	now := s.now()
	actor := PlaybookActor(ctx)
	target := kind + "/" + name
	if errs := overrides.Validate(s.Config(), kind, name, spec, now); len(errs) > 0 {
		var msgs []string
		for _, e := range errs {
			msgs = append(msgs, strings.TrimPrefix(e.Path+": ", ": ")+e.Message)
		}
		return OverrideRef{}, fmt.Errorf("override %s: %s", target, strings.Join(msgs, "; "))
	}
	expect := 0
	cur, err := s.Store.GetOverride(ctx, kind, name)
	switch {
	case err == nil && !strings.HasPrefix(cur.UpdatedBy, "playbook"):
		return OverrideRef{}, fmt.Errorf("override %s: %s set one (version %d); a playbook does not replace an operator's override",
			target, cur.UpdatedBy, cur.Version)
	case err == nil:
		expect = cur.Version // an earlier playbook's: replaced
	case !errors.Is(err, store.ErrNotFound):
		return OverrideRef{}, fmt.Errorf("override %s: %w", target, err)
	}
	body, err := json.Marshal(spec)
	if err != nil {
		return OverrideRef{}, fmt.Errorf("override %s: %w", target, err)
	}
	o, err := s.Store.PutOverride(ctx, store.Override{Kind: kind, Name: name, Spec: body, ExpiresAt: spec.ExpiresAt, UpdatedBy: actor, UpdatedAt: now},
		expect, store.AuditRecord{At: now, Actor: actor, Action: "put_override", Target: target})
	if err != nil {
		return OverrideRef{}, fmt.Errorf("override %s: %w", target, err)
	}
	ref.ID, ref.Version = target, o.Version
	s.replan(ctx, group)
	return ref, nil
}

// replan asks for a round so that the override is planned with now, as
// the API does after an operator's change. The override is stored either
// way; the next scheduled round would take it.
func (s *StoreOverrides) replan(ctx context.Context, group string) {
	if s.Force != nil {
		_ = s.Force(ctx, group, false)
	}
}

// Lift implements Overrides: it removes the override the playbook wrote,
// with an audit record. One that is gone (expired and pruned, or removed)
// is not an error; one that somebody changed since is left in place, and
// the error says so.
func (s *StoreOverrides) Lift(ctx context.Context, ref OverrideRef) error {
	kind, name, ok := strings.Cut(ref.ID, "/")
	if !ok {
		return fmt.Errorf("lift override: malformed reference %q", ref.ID)
	}
	cur, err := s.Store.GetOverride(ctx, kind, name)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("lift override %s: %w", ref.ID, err)
	}
	if cur.Version != ref.Version {
		return fmt.Errorf("lift override %s: %s changed it since (version %d, the playbook wrote %d); left in place",
			ref.ID, cur.UpdatedBy, cur.Version, ref.Version)
	}
	now := s.now()
	actor := PlaybookActor(ctx)
	err = s.Store.DeleteOverride(ctx, kind, name, cur.Version, store.AuditRecord{At: now, Actor: actor, Action: "delete_override", Target: ref.ID})
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil
	case err != nil:
		return fmt.Errorf("lift override %s: %w", ref.ID, err)
	}
	s.replan(ctx, ref.Group)
	return nil
}
