// Package overrides owns operators' and playbooks' changes to the
// configured policy: per project share, floor, ceiling, weight and a pinned
// quota; per group a raised margin or a freeze. Each may expire. It
// validates a change against the configuration (with YAML-style field
// paths), applies the changes in force to a copy of the configuration
// (which is what the limiter plans with), and holds the one write path for
// them, Service: validation, optimistic versioning, the audit record in the
// same transaction, the rule that a playbook never touches an operator's
// override, and the replan hook. The API and the alert playbooks both write
// through Service; storage sits behind its Store interface (package store
// implements it).
//
// It must not import the limiter's other packages, api, alerting, round,
// daemon or any cluster client.
package overrides

import (
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/headroomhq/headroom/config"
	"github.com/headroomhq/headroom/store"
)

// Kinds of override target.
const (
	KindProject = "project"
	KindGroup   = "group"
)

// Quota changes one direction of a project. Unset fields keep the
// configured value.
type Quota struct {
	Share   *config.Rate `json:"share,omitempty"`
	Floor   *config.Rate `json:"floor,omitempty"`
	Ceiling *config.Rate `json:"ceiling,omitempty"`
	Weight  *float64     `json:"weight,omitempty"`
	// Pin fixes the quota: the limiter neither lends from nor gives more
	// to the project in this direction.
	Pin *config.Rate `json:"pin,omitempty"`
}

func (q *Quota) empty() bool {
	return q == nil || (q.Share == nil && q.Floor == nil && q.Ceiling == nil && q.Weight == nil && q.Pin == nil)
}

// Spec is the body of an override.
type Spec struct {
	// Project fields.
	Produce *Quota `json:"produce,omitempty"`
	Fetch   *Quota `json:"fetch,omitempty"`
	// Group fields.
	Freeze *bool    `json:"freeze,omitempty"`
	Margin *float64 `json:"margin,omitempty"`
	// ExpiresAt ends the override; absent means permanent.
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	// Reason is free text for the audit trail.
	Reason string `json:"reason,omitempty"`
}

// Validate checks spec for the named target against cfg at now and
// returns every problem, each at its path in the spec.
func Validate(cfg *config.Config, kind, name string, spec Spec, now time.Time) []config.FieldError {
	var errs []config.FieldError
	add := func(path, format string, args ...any) {
		errs = append(errs, config.FieldError{Path: path, Msg: fmt.Sprintf(format, args...)})
	}
	if spec.ExpiresAt != nil && !spec.ExpiresAt.After(now) {
		add("expires_at", "is in the past (%s); an override must expire in the future or not at all", spec.ExpiresAt.UTC().Format(time.RFC3339))
	}
	switch kind {
	case KindProject:
		var p *config.ProjectConfig
		for i := range cfg.Projects {
			if cfg.Projects[i].Name == name {
				p = &cfg.Projects[i]
			}
		}
		if p == nil {
			add("", "unknown project %q", name)
			return errs
		}
		if spec.Freeze != nil || spec.Margin != nil {
			add("freeze", "freeze and margin apply to groups, not projects")
		}
		if spec.Produce.empty() && spec.Fetch.empty() {
			add("", "set at least one field of produce or fetch")
		}
		g, _ := cfg.Group(p.Group)
		for _, d := range []struct {
			name string
			q    *Quota
			base config.QuotaConfig
			cap  config.Rate
		}{
			{"produce", spec.Produce, p.Produce, g.Capacity.Produce},
			{"fetch", spec.Fetch, p.Fetch, g.Capacity.Fetch},
		} {
			if d.q == nil {
				continue
			}
			eff := applyQuota(d.base, d.q)
			safe := config.Rate(float64(d.cap) * g.Margin)
			if d.q.Weight != nil && (!(*d.q.Weight > 0) || math.IsInf(*d.q.Weight, 0)) {
				add(d.name+".weight", "must be a finite number above zero, got %v", *d.q.Weight)
			}
			if d.q.Share != nil && *d.q.Share <= 0 {
				add(d.name+".share", "must be above zero")
			}
			if eff.Floor > eff.Share {
				add(d.name+".floor", "floor %s exceeds share %s (need floor <= share <= ceiling)", eff.Floor, eff.Share)
			}
			if eff.Share > eff.Ceiling {
				add(d.name+".ceiling", "share %s exceeds ceiling %s (need floor <= share <= ceiling)", eff.Share, eff.Ceiling)
			}
			if eff.Ceiling > safe {
				add(d.name+".ceiling", "ceiling %s exceeds the group's safe capacity %s", eff.Ceiling, safe)
			}
			if pin := d.q.Pin; pin != nil && (*pin <= 0 || *pin > safe) {
				add(d.name+".pin", "must be above zero and at most the group's safe capacity %s, got %s", safe, *pin)
			}
		}
	case KindGroup:
		if _, ok := cfg.Group(name); !ok {
			add("", "unknown resource group %q", name)
			return errs
		}
		if spec.Produce != nil || spec.Fetch != nil {
			add("produce", "produce and fetch apply to projects, not groups")
		}
		if spec.Freeze == nil && spec.Margin == nil {
			add("", "set freeze or margin")
		}
		if m := spec.Margin; m != nil && !(*m > 0 && *m <= 1) {
			add("margin", "must be in (0, 1], got %v", *m)
		}
	default:
		add("", "unknown kind %q (want project or group)", kind)
	}
	return errs
}

func applyQuota(base config.QuotaConfig, q *Quota) config.QuotaConfig {
	if q == nil {
		return base
	}
	if q.Share != nil {
		base.Share = *q.Share
	}
	if q.Floor != nil {
		base.Floor = *q.Floor
	}
	if q.Ceiling != nil {
		base.Ceiling = *q.Ceiling
	}
	if q.Weight != nil {
		base.Weight = *q.Weight
	}
	return base
}

// Effective is the configuration with the overrides in force applied, plus
// what a configuration cannot say.
type Effective struct {
	Config *config.Config
	// Frozen groups keep their quotas: the limiter plans nothing new.
	Frozen map[string]bool
	// Pins fix a project's quota per direction ("produce", "fetch").
	Pins map[string]map[string]float64
}

// Apply applies the overrides in force at now to a deep copy of cfg. An
// override that no longer fits the configuration (its project was removed)
// is skipped and reported.
func Apply(cfg *config.Config, ovs []store.Override, now time.Time) (Effective, []error) {
	out := Effective{Config: clone(cfg), Frozen: map[string]bool{}, Pins: map[string]map[string]float64{}}
	var errs []error
	for _, o := range ovs {
		if o.ExpiresAt != nil && !o.ExpiresAt.After(now) {
			continue
		}
		var spec Spec
		if err := json.Unmarshal(o.Spec, &spec); err != nil {
			errs = append(errs, fmt.Errorf("override %s/%s: %w", o.Kind, o.Name, err))
			continue
		}
		spec.ExpiresAt = nil // already checked against now
		if fe := Validate(out.Config, o.Kind, o.Name, spec, now); len(fe) > 0 {
			errs = append(errs, fmt.Errorf("override %s/%s no longer fits the configuration: %s: %s", o.Kind, o.Name, fe[0].Path, fe[0].Msg))
			continue
		}
		switch o.Kind {
		case KindProject:
			for i := range out.Config.Projects {
				p := &out.Config.Projects[i]
				if p.Name != o.Name {
					continue
				}
				p.Produce = applyQuota(p.Produce, spec.Produce)
				p.Fetch = applyQuota(p.Fetch, spec.Fetch)
				for dir, q := range map[string]*Quota{"produce": spec.Produce, "fetch": spec.Fetch} {
					if q != nil && q.Pin != nil {
						if out.Pins[o.Name] == nil {
							out.Pins[o.Name] = map[string]float64{}
						}
						out.Pins[o.Name][dir] = float64(*q.Pin)
					}
				}
			}
		case KindGroup:
			for i := range out.Config.ResourceGroups {
				g := &out.Config.ResourceGroups[i]
				if g.Name != o.Name {
					continue
				}
				if spec.Margin != nil {
					raiseDefaultCeilings(out.Config, g, *spec.Margin)
					g.Margin = *spec.Margin
				}
				if spec.Freeze != nil && *spec.Freeze {
					out.Frozen[g.Name] = true
				}
			}
		}
	}
	return out, errs
}

// raiseDefaultCeilings moves the ceilings that stand at the group's safe
// capacity (the default ceiling, margin × capacity) to the safe capacity
// under the new margin, so that a raised margin reaches the projects that
// were only bounded by the old one. A ceiling set below the safe capacity
// stays where it is.
func raiseDefaultCeilings(c *config.Config, g *config.GroupConfig, margin float64) {
	for i := range c.Projects {
		p := &c.Projects[i]
		if p.Group != g.Name {
			continue
		}
		for _, d := range []struct {
			q   *config.QuotaConfig
			cap config.Rate
		}{{&p.Produce, g.Capacity.Produce}, {&p.Fetch, g.Capacity.Fetch}} {
			if d.q.Ceiling == config.Rate(float64(d.cap)*g.Margin) {
				d.q.Ceiling = config.Rate(float64(d.cap) * margin)
			}
		}
	}
}

// clone deep-copies the parts of the configuration overrides change.
func clone(c *config.Config) *config.Config {
	out := *c
	out.Projects = append([]config.ProjectConfig(nil), c.Projects...)
	out.ResourceGroups = append([]config.GroupConfig(nil), c.ResourceGroups...)
	return &out
}
