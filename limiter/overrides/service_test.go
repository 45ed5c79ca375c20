package overrides

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/headroomhq/headroom/config"
	"github.com/headroomhq/headroom/store"
)

// serviceFixture is a Service over a real SQLite store, with the replans it
// asked for recorded.
type serviceFixture struct {
	db      *store.DB
	svc     *Service
	now     time.Time
	replans []string
}

func newService(t *testing.T) *serviceFixture {
	t.Helper()
	cfg, err := config.LoadFile("../../examples/headroom.yml")
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "headroom.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	f := &serviceFixture{db: db, now: time.Date(2026, 11, 23, 3, 0, 0, 0, time.UTC)}
	f.svc = &Service{Store: db, Config: func() *config.Config { return cfg }, Now: func() time.Time { return f.now },
		Replan: func(_ context.Context, group string) { f.replans = append(f.replans, group) }}
	return f
}

// seed writes an override straight to the store, as actor, and returns its
// version; the service is not involved.
func (f *serviceFixture) seed(t *testing.T, kind, name, actor string) int {
	t.Helper()
	o, err := f.db.PutOverride(context.Background(), store.Override{Kind: kind, Name: name, Spec: []byte(`{"margin":0.8}`), UpdatedBy: actor, UpdatedAt: f.now},
		0, store.AuditRecord{At: f.now, Actor: actor, Action: ActionPut, Target: kind + "/" + name})
	if err != nil {
		t.Fatal(err)
	}
	return o.Version
}

func weight(w float64) Spec { return Spec{Produce: &Quota{Weight: &w}} }

func margin(m float64) Spec { return Spec{Margin: &m} }

func TestServicePut(t *testing.T) {
	tests := []struct {
		name string
		// seedBy writes an override for the target first when not empty.
		seedBy string
		change Change
		// want is the error, nil for a stored change.
		want        error
		wantVersion int    // the stored version afterwards
		wantBy      string // who the stored override is by afterwards
		wantReplan  string // the group replanned, for a stored change
		wantField   string // the path of the first field error
	}{
		{name: "operator creates a project override", change: Change{Kind: KindProject, Name: "checkout", Spec: weight(2), Actor: "olga"},
			wantVersion: 1, wantBy: "olga", wantReplan: "events"},
		{name: "operator creates a group override", change: Change{Kind: KindGroup, Name: "batch", Spec: margin(0.95), Actor: "olga"},
			wantVersion: 1, wantBy: "olga", wantReplan: "batch"},
		{name: "replace at the version read", seedBy: "olga", change: Change{Kind: KindGroup, Name: "batch", Spec: margin(0.95), Actor: "ivan", Version: 1},
			wantVersion: 2, wantBy: "ivan", wantReplan: "batch"},
		{name: "an operator replaces a playbook's at its version", seedBy: "playbook:HeadroomGroupSaturated", change: Change{Kind: KindGroup, Name: "batch", Spec: margin(0.95), Actor: "olga", Version: 1},
			wantVersion: 2, wantBy: "olga", wantReplan: "batch"},
		{name: "a playbook replaces a playbook's at any version", seedBy: "playbook:A", change: Change{Kind: KindGroup, Name: "batch", Spec: margin(0.95), Actor: "playbook:B"},
			wantVersion: 2, wantBy: "playbook:B", wantReplan: "batch"},
		{name: "unknown project", change: Change{Kind: KindProject, Name: "nope", Spec: weight(2), Actor: "olga"},
			want: ErrUnknownTarget, wantField: ""},
		{name: "unknown group", change: Change{Kind: KindGroup, Name: "nope", Spec: margin(0.9), Actor: "olga"},
			want: ErrUnknownTarget, wantField: ""},
		{name: "invalid weight", change: Change{Kind: KindProject, Name: "checkout", Spec: weight(-1), Actor: "olga"},
			want: ErrInvalid, wantField: "produce.weight"},
		{name: "unknown project and a past expiry is invalid, not unknown",
			change: Change{Kind: KindProject, Name: "nope", Spec: Spec{Margin: ptr(0.9), ExpiresAt: ptr(time.Date(2026, 11, 23, 2, 0, 0, 0, time.UTC))}, Actor: "olga"},
			want:   ErrInvalid, wantField: "expires_at"},
		{name: "exists and no version", seedBy: "olga", change: Change{Kind: KindGroup, Name: "batch", Spec: margin(0.95), Actor: "ivan"},
			want: ErrVersionRequired, wantVersion: 1, wantBy: "olga"},
		{name: "exists and an unreadable version", seedBy: "olga", change: Change{Kind: KindGroup, Name: "batch", Spec: margin(0.95), Actor: "ivan", Version: -1},
			want: ErrMalformedVersion, wantVersion: 1, wantBy: "olga"},
		{name: "stale version", seedBy: "olga", change: Change{Kind: KindGroup, Name: "batch", Spec: margin(0.95), Actor: "ivan", Version: 7},
			want: ErrConflict, wantVersion: 1, wantBy: "olga"},
		{name: "a version for one that does not exist", change: Change{Kind: KindGroup, Name: "batch", Spec: margin(0.95), Actor: "ivan", Version: 1},
			want: ErrNotFound},
		{name: "a playbook never replaces an operator's", seedBy: "olga", change: Change{Kind: KindGroup, Name: "batch", Spec: margin(0.97), Actor: "playbook:HeadroomGroupSaturated", Version: 1},
			want: ErrOperatorOwned, wantVersion: 1, wantBy: "olga"},
		{name: "an operator named like a playbook is an operator", seedBy: "playbooks-team", change: Change{Kind: KindGroup, Name: "batch", Spec: margin(0.97), Actor: "playbook:X"},
			want: ErrOperatorOwned, wantVersion: 1, wantBy: "playbooks-team"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newService(t)
			ctx := context.Background()
			audits := 0
			if tt.seedBy != "" {
				f.seed(t, tt.change.Kind, tt.change.Name, tt.seedBy)
				audits++
			}
			o, err := f.svc.Put(ctx, tt.change)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err %v, want %v", err, tt.want)
			}
			if err != nil {
				var oe *Error
				if !errors.As(err, &oe) {
					t.Fatalf("err %T is not an *Error", err)
				}
				if tt.want == ErrInvalid || tt.want == ErrUnknownTarget {
					if len(oe.Fields) == 0 || oe.Fields[0].Path != tt.wantField {
						t.Fatalf("fields %+v, want the first at %q", oe.Fields, tt.wantField)
					}
				}
				if tt.seedBy != "" && (tt.want == ErrVersionRequired || tt.want == ErrMalformedVersion || tt.want == ErrOperatorOwned) && oe.Current.Version != 1 {
					t.Fatalf("the error names version %d of the current override, want 1", oe.Current.Version)
				}
				if len(f.replans) != 0 {
					t.Fatalf("a refused change asked for replans %v", f.replans)
				}
			} else {
				audits++
				if o.Version != tt.wantVersion || o.UpdatedBy != tt.change.Actor || !o.UpdatedAt.Equal(f.now) {
					t.Fatalf("returned %+v", o)
				}
				if len(f.replans) != 1 || f.replans[0] != tt.wantReplan {
					t.Fatalf("replans %v, want [%s]", f.replans, tt.wantReplan)
				}
			}
			cur, gerr := f.db.GetOverride(ctx, tt.change.Kind, tt.change.Name)
			switch {
			case tt.wantVersion == 0 && !errors.Is(gerr, store.ErrNotFound):
				t.Fatalf("stored %+v (%v), want none", cur, gerr)
			case tt.wantVersion != 0 && (gerr != nil || cur.Version != tt.wantVersion || cur.UpdatedBy != tt.wantBy):
				t.Fatalf("stored %+v (%v), want version %d by %s", cur, gerr, tt.wantVersion, tt.wantBy)
			}
			as, aerr := f.db.Audit(ctx, 100)
			if aerr != nil {
				t.Fatal(aerr)
			}
			if len(as) != audits {
				t.Fatalf("%d audit records, want %d: %+v", len(as), audits, as)
			}
			if err == nil && (as[0].Actor != tt.change.Actor || as[0].Action != ActionPut || as[0].Target != tt.change.Kind+"/"+tt.change.Name) {
				t.Fatalf("audit %+v", as[0])
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestServiceDelete(t *testing.T) {
	tests := []struct {
		name       string
		seedBy     string // empty: nothing stored
		kind, tgt  string
		actor      string
		version    int
		want       error
		wantReplan string
	}{
		{name: "operator removes at the version read", seedBy: "olga", kind: KindGroup, tgt: "batch", actor: "ivan", version: 1, wantReplan: "batch"},
		{name: "operator removes a playbook's", seedBy: "playbook:A", kind: KindGroup, tgt: "events", actor: "olga", version: 1, wantReplan: "events"},
		{name: "a playbook lifts its own", seedBy: "playbook:A", kind: KindGroup, tgt: "batch", actor: "playbook:A", version: 1, wantReplan: "batch"},
		{name: "a project whose configuration is gone replans every group", seedBy: "olga", kind: KindProject, tgt: "retired", actor: "olga", version: 1, wantReplan: ""},
		{name: "no version", seedBy: "olga", kind: KindGroup, tgt: "batch", actor: "ivan", want: ErrVersionRequired},
		{name: "stale version", seedBy: "olga", kind: KindGroup, tgt: "batch", actor: "ivan", version: 2, want: ErrConflict},
		{name: "none stored", kind: KindGroup, tgt: "batch", actor: "ivan", version: 1, want: ErrNotFound},
		{name: "a playbook never removes an operator's", seedBy: "olga", kind: KindGroup, tgt: "batch", actor: "playbook:A", version: 1, want: ErrOperatorOwned},
		{name: "a playbook's lift after a change is left in place", seedBy: "olga", kind: KindGroup, tgt: "batch", actor: "playbook:A", version: 3, want: ErrConflict},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newService(t)
			ctx := context.Background()
			seeded := 0 // audit records before the delete
			if tt.seedBy != "" {
				f.seed(t, tt.kind, tt.tgt, tt.seedBy)
				seeded = 1
			}
			err := f.svc.Delete(ctx, Change{Kind: tt.kind, Name: tt.tgt, Actor: tt.actor, Version: tt.version})
			if !errors.Is(err, tt.want) {
				t.Fatalf("err %v, want %v", err, tt.want)
			}
			_, gerr := f.db.GetOverride(ctx, tt.kind, tt.tgt)
			as, aerr := f.db.Audit(ctx, 100)
			if aerr != nil {
				t.Fatal(aerr)
			}
			if err != nil {
				if tt.seedBy != "" && gerr != nil {
					t.Fatalf("a refused delete removed it: %v", gerr)
				}
				if len(f.replans) != 0 || len(as) != seeded {
					t.Fatalf("a refused delete asked for replans %v or wrote audit %+v", f.replans, as)
				}
				return
			}
			if !errors.Is(gerr, store.ErrNotFound) {
				t.Fatalf("still stored: %v", gerr)
			}
			if len(as) != 2 || as[0].Action != ActionDelete || as[0].Actor != tt.actor || as[0].Target != tt.kind+"/"+tt.tgt {
				t.Fatalf("audit %+v", as)
			}
			if len(f.replans) != 1 || f.replans[0] != tt.wantReplan {
				t.Fatalf("replans %v, want [%s]", f.replans, tt.wantReplan)
			}
		})
	}
}

// The error of a refused playbook action says who holds the override, so
// that the incident can record why.
func TestServiceErrorNamesTheOwner(t *testing.T) {
	f := newService(t)
	f.seed(t, KindGroup, "events", "olga")
	_, err := f.svc.Put(context.Background(), Change{Kind: KindGroup, Name: "events", Spec: margin(0.97), Actor: "playbook:A"})
	if want := "put override group/events: olga set one (version 1); a playbook does not replace an operator's override"; err == nil || err.Error() != want {
		t.Fatalf("err %v, want %q", err, want)
	}
	err = f.svc.Delete(context.Background(), Change{Kind: KindGroup, Name: "events", Actor: "playbook:A", Version: 2})
	if want := "delete override group/events: olga changed it since (version 1, not the 2 read); left in place"; err == nil || err.Error() != want {
		t.Fatalf("err %v, want %q", err, want)
	}
}

// A store that fails (closed under the service) fails the change with
// the store's error, none of the refusals, and asks for no replan.
func TestServiceStoreFailure(t *testing.T) {
	f := newService(t)
	f.db.Close()
	ctx := context.Background()
	_, perr := f.svc.Put(ctx, Change{Kind: KindGroup, Name: "batch", Spec: margin(0.95), Actor: "olga"})
	derr := f.svc.Delete(ctx, Change{Kind: KindGroup, Name: "batch", Actor: "olga", Version: 1})
	for _, err := range []error{perr, derr} {
		if err == nil {
			t.Fatal("a change on a closed store succeeded")
		}
		for _, refusal := range []error{ErrInvalid, ErrUnknownTarget, ErrVersionRequired, ErrMalformedVersion, ErrNotFound, ErrConflict, ErrOperatorOwned} {
			if errors.Is(err, refusal) {
				t.Errorf("%v reads as the refusal %v", err, refusal)
			}
		}
	}
	if len(f.replans) != 0 {
		t.Fatalf("failed changes asked for replans %v", f.replans)
	}
}
