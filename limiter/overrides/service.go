package overrides

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/headroomhq/headroom/config"
	"github.com/headroomhq/headroom/store"
)

// Store is what Service needs of persistence. *store.DB implements it: a
// put or a delete writes the override and its audit record in one
// transaction, and fails with store.ErrConflict when the stored version is
// not the expected one and store.ErrNotFound when there is none.
type Store interface {
	GetOverride(ctx context.Context, kind, name string) (store.Override, error)
	Overrides(ctx context.Context, now time.Time) ([]store.Override, error)
	PutOverride(ctx context.Context, o store.Override, expectVersion int, audit store.AuditRecord) (store.Override, error)
	DeleteOverride(ctx context.Context, kind, name string, expectVersion int, audit store.AuditRecord) error
}

var _ Store = (*store.DB)(nil)

// PlaybookActor is the audit actor of a playbook's change outside a named
// playbook; a named playbook writes as PlaybookActor + ":" + its alert.
const PlaybookActor = "playbook"

// IsPlaybook reports whether actor is a playbook's: "playbook" or
// "playbook:ALERTNAME".
func IsPlaybook(actor string) bool {
	return actor == PlaybookActor || strings.HasPrefix(actor, PlaybookActor+":")
}

// Audit actions of the override path.
const (
	ActionPut    = "put_override"
	ActionDelete = "delete_override"
)

// Errors of the write path. A *Error wraps one of them.
var (
	// ErrInvalid: the spec does not fit the configuration (Error.Fields).
	ErrInvalid = errors.New("invalid override")
	// ErrUnknownTarget: the project or group is not configured.
	ErrUnknownTarget = errors.New("unknown target")
	// ErrVersionRequired: an override exists and the caller named no
	// version to replace.
	ErrVersionRequired = errors.New("the override exists; a version is required to replace it")
	// ErrMalformedVersion: the caller's version could not be read.
	ErrMalformedVersion = errors.New("malformed version")
	// ErrNotFound: there is no such override (and the caller expected one).
	ErrNotFound = errors.New("no such override")
	// ErrConflict: the override changed since the caller read it.
	ErrConflict = errors.New("the override changed since it was read")
	// ErrOperatorOwned: a playbook may not replace or remove an
	// operator's override.
	ErrOperatorOwned = errors.New("a playbook does not replace an operator's override")
)

// Error is a refused or failed change. Err is one of the errors above, or
// the store's error.
type Error struct {
	Op     string // "put" or "delete"
	Target string // kind/name
	Err    error
	// Fields holds the problems when Err is ErrInvalid or ErrUnknownTarget.
	Fields []config.FieldError
	// Current is the stored override when the refusal is about it
	// (ErrVersionRequired, ErrMalformedVersion, ErrConflict on delete,
	// ErrOperatorOwned); its Version is zero otherwise.
	Current store.Override
	// Read is the version the caller read (Change.Version).
	Read int
}

func (e *Error) Error() string {
	msg := e.Err.Error()
	switch {
	case len(e.Fields) > 0:
		var fs []string
		for _, f := range e.Fields {
			fs = append(fs, f.Error())
		}
		msg = strings.Join(fs, "; ")
	case errors.Is(e.Err, ErrOperatorOwned):
		msg = fmt.Sprintf("%s set one (version %d); %s", e.Current.UpdatedBy, e.Current.Version, e.Err)
	case errors.Is(e.Err, ErrConflict) && e.Current.Version > 0:
		msg = fmt.Sprintf("%s changed it since (version %d, not the %d read); left in place", e.Current.UpdatedBy, e.Current.Version, e.Read)
	}
	return fmt.Sprintf("%s override %s: %s", e.Op, e.Target, msg)
}

func (e *Error) Unwrap() error { return e.Err }

// Change is one put or delete.
type Change struct {
	Kind, Name string
	// Spec is the override to put; unused by Delete.
	Spec Spec
	// Actor is who changes it, for the audit trail and ownership: an
	// operator's principal, or a playbook's (IsPlaybook).
	Actor string
	// Version is the version the caller read (an ETag). For a put, 0
	// creates and fails with ErrVersionRequired if one exists; for a
	// delete it is required. A negative version is one the caller could
	// not read (ErrMalformedVersion). A playbook's put ignores it: a
	// playbook replaces its own override at whatever version it stands,
	// and never an operator's.
	Version int
}

func (c Change) target() string { return c.Kind + "/" + c.Name }

// Service is the one write path for overrides, used by the API and by the
// playbooks alike.
type Service struct {
	Store Store
	// Config returns the configuration in force.
	Config func() *config.Config
	// Replan asks the limiter for a round now, for the group a change
	// touches ("" when it is unknown), so that it is planned with at once.
	// The change is stored either way; the next scheduled round takes it.
	// Optional.
	Replan func(ctx context.Context, group string)
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

func (s *Service) now() time.Time {
	if s.Now == nil {
		return time.Now()
	}
	return s.Now()
}

// Get returns one stored override, in force or expired; ErrNotFound wrapped
// when there is none.
func (s *Service) Get(ctx context.Context, kind, name string) (store.Override, error) {
	o, err := s.Store.GetOverride(ctx, kind, name)
	if errors.Is(err, store.ErrNotFound) {
		return store.Override{}, &Error{Op: "get", Target: kind + "/" + name, Err: ErrNotFound}
	}
	return o, err
}

// InForce returns the overrides in force now.
func (s *Service) InForce(ctx context.Context) ([]store.Override, error) {
	return s.Store.Overrides(ctx, s.now())
}

// Effective returns the configuration in force with the overrides in force
// applied, and the overrides that no longer fit it.
func (s *Service) Effective(ctx context.Context) (Effective, []error, error) {
	now := s.now()
	ovs, err := s.Store.Overrides(ctx, now)
	if err != nil {
		return Effective{}, nil, err
	}
	eff, errs := Apply(s.Config(), ovs, now)
	return eff, errs, nil
}

// Put validates c.Spec against the configuration in force, checks the
// version and the owner, stores the override with its audit record, and
// asks for a replan.
func (s *Service) Put(ctx context.Context, c Change) (store.Override, error) {
	now := s.now()
	fail := func(err error, cur store.Override) (store.Override, error) {
		return store.Override{}, &Error{Op: "put", Target: c.target(), Err: err, Current: cur, Read: c.Version}
	}
	cfg := s.Config()
	if fe := Validate(cfg, c.Kind, c.Name, c.Spec, now); len(fe) > 0 {
		err := ErrInvalid
		if len(fe) == 1 && (c.Kind == KindProject || c.Kind == KindGroup) && GroupOf(cfg, c.Kind, c.Name) == "" {
			err = ErrUnknownTarget // the one problem is that there is no such target
		}
		return store.Override{}, &Error{Op: "put", Target: c.target(), Err: err, Fields: fe}
	}
	playbook := IsPlaybook(c.Actor)
	expect := 0
	cur, err := s.Store.GetOverride(ctx, c.Kind, c.Name)
	switch {
	case err == nil && playbook && !IsPlaybook(cur.UpdatedBy):
		return fail(ErrOperatorOwned, cur)
	case err == nil && playbook:
		expect = cur.Version // an earlier playbook's: replaced
	case err == nil && c.Version < 0:
		return fail(ErrMalformedVersion, cur)
	case err == nil && c.Version == 0:
		return fail(ErrVersionRequired, cur)
	case err == nil:
		expect = c.Version
	case !errors.Is(err, store.ErrNotFound):
		return fail(err, store.Override{})
	case !playbook && c.Version != 0:
		return fail(ErrNotFound, store.Override{})
	}
	body, err := json.Marshal(c.Spec)
	if err != nil {
		return fail(err, store.Override{})
	}
	o, err := s.Store.PutOverride(ctx, store.Override{Kind: c.Kind, Name: c.Name, Spec: body, ExpiresAt: c.Spec.ExpiresAt, UpdatedBy: c.Actor, UpdatedAt: now},
		expect, store.AuditRecord{At: now, Actor: c.Actor, Action: ActionPut, Target: c.target()})
	switch {
	case errors.Is(err, store.ErrConflict):
		return fail(ErrConflict, store.Override{})
	case err != nil:
		return fail(err, store.Override{})
	}
	s.replan(ctx, cfg, c.Kind, c.Name)
	return o, nil
}

// Delete removes the override at c.Version with its audit record and asks
// for a replan. A playbook's delete of an override an operator owns fails
// with ErrOperatorOwned and leaves it in place.
func (s *Service) Delete(ctx context.Context, c Change) error {
	fail := func(err error, cur store.Override) error {
		return &Error{Op: "delete", Target: c.target(), Err: err, Current: cur, Read: c.Version}
	}
	if c.Version <= 0 {
		return fail(ErrVersionRequired, store.Override{})
	}
	if IsPlaybook(c.Actor) {
		cur, err := s.Store.GetOverride(ctx, c.Kind, c.Name)
		switch {
		case errors.Is(err, store.ErrNotFound):
			return fail(ErrNotFound, store.Override{})
		case err != nil:
			return fail(err, store.Override{})
		case cur.Version != c.Version:
			return fail(ErrConflict, cur)
		case !IsPlaybook(cur.UpdatedBy):
			return fail(ErrOperatorOwned, cur)
		}
	}
	err := s.Store.DeleteOverride(ctx, c.Kind, c.Name, c.Version,
		store.AuditRecord{At: s.now(), Actor: c.Actor, Action: ActionDelete, Target: c.target()})
	switch {
	case errors.Is(err, store.ErrNotFound):
		return fail(ErrNotFound, store.Override{})
	case errors.Is(err, store.ErrConflict):
		return fail(ErrConflict, store.Override{})
	case err != nil:
		return fail(err, store.Override{})
	}
	s.replan(ctx, s.Config(), c.Kind, c.Name)
	return nil
}

// replan asks for a round for the group the target belongs to.
func (s *Service) replan(ctx context.Context, cfg *config.Config, kind, name string) {
	if s.Replan == nil {
		return
	}
	s.Replan(ctx, GroupOf(cfg, kind, name))
}

// GroupOf returns the resource group a target belongs to: the group itself,
// or the project's group; "" when the configuration does not know it.
func GroupOf(cfg *config.Config, kind, name string) string {
	switch kind {
	case KindGroup:
		if _, ok := cfg.Group(name); ok {
			return name
		}
	case KindProject:
		for _, p := range cfg.Projects {
			if p.Name == name {
				return p.Group
			}
		}
	}
	return ""
}
