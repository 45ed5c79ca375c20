package overrides_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/headroomhq/headroom/limiter/overrides"
	"github.com/headroomhq/headroom/limiter/overrides/overridestest"
	"github.com/headroomhq/headroom/store"
)

// seed writes a margin override for kind/name straight to the store, as
// actor, and returns its version; the service is not involved.
func seed(t *testing.T, f *overridestest.Fixture, kind, name, actor string) int {
	t.Helper()
	return f.Seed(t, kind, name, actor, []byte(`{"margin":0.8}`), 0)
}

func weight(w float64) overrides.Spec { return overrides.Spec{Produce: &overrides.Quota{Weight: &w}} }

func margin(m float64) overrides.Spec { return overrides.Spec{Margin: &m} }

func TestServicePut(t *testing.T) {
	tests := []struct {
		name string
		// seedBy writes an override for the target first when not empty.
		seedBy string
		change overrides.Change
		// want is the error, nil for a stored change.
		want        error
		wantVersion int    // the stored version afterwards
		wantBy      string // who the stored override is by afterwards
		wantReplan  string // the group replanned, for a stored change
		wantField   string // the path of the first field error
	}{
		{name: "operator creates a project override", change: overrides.Change{Kind: overrides.KindProject, Name: "checkout", Spec: weight(2), Actor: "olga"},
			wantVersion: 1, wantBy: "olga", wantReplan: "events"},
		{name: "operator creates a group override", change: overrides.Change{Kind: overrides.KindGroup, Name: "batch", Spec: margin(0.95), Actor: "olga"},
			wantVersion: 1, wantBy: "olga", wantReplan: "batch"},
		{name: "replace at the version read", seedBy: "olga", change: overrides.Change{Kind: overrides.KindGroup, Name: "batch", Spec: margin(0.95), Actor: "ivan", Version: 1},
			wantVersion: 2, wantBy: "ivan", wantReplan: "batch"},
		{name: "an operator replaces a playbook's at its version", seedBy: "playbook:HeadroomGroupSaturated", change: overrides.Change{Kind: overrides.KindGroup, Name: "batch", Spec: margin(0.95), Actor: "olga", Version: 1},
			wantVersion: 2, wantBy: "olga", wantReplan: "batch"},
		{name: "a playbook replaces a playbook's at any version", seedBy: "playbook:A", change: overrides.Change{Kind: overrides.KindGroup, Name: "batch", Spec: margin(0.95), Actor: "playbook:B"},
			wantVersion: 2, wantBy: "playbook:B", wantReplan: "batch"},
		{name: "unknown project", change: overrides.Change{Kind: overrides.KindProject, Name: "nope", Spec: weight(2), Actor: "olga"},
			want: overrides.ErrUnknownTarget, wantField: ""},
		{name: "unknown group", change: overrides.Change{Kind: overrides.KindGroup, Name: "nope", Spec: margin(0.9), Actor: "olga"},
			want: overrides.ErrUnknownTarget, wantField: ""},
		{name: "invalid weight", change: overrides.Change{Kind: overrides.KindProject, Name: "checkout", Spec: weight(-1), Actor: "olga"},
			want: overrides.ErrInvalid, wantField: "produce.weight"},
		{name: "unknown project and a past expiry is invalid, not unknown",
			change: overrides.Change{Kind: overrides.KindProject, Name: "nope", Spec: overrides.Spec{Margin: ptr(0.9), ExpiresAt: ptr(time.Date(2026, 11, 23, 2, 0, 0, 0, time.UTC))}, Actor: "olga"},
			want:   overrides.ErrInvalid, wantField: "expires_at"},
		{name: "exists and no version", seedBy: "olga", change: overrides.Change{Kind: overrides.KindGroup, Name: "batch", Spec: margin(0.95), Actor: "ivan"},
			want: overrides.ErrVersionRequired, wantVersion: 1, wantBy: "olga"},
		{name: "exists and an unreadable version", seedBy: "olga", change: overrides.Change{Kind: overrides.KindGroup, Name: "batch", Spec: margin(0.95), Actor: "ivan", Version: -1},
			want: overrides.ErrMalformedVersion, wantVersion: 1, wantBy: "olga"},
		{name: "stale version", seedBy: "olga", change: overrides.Change{Kind: overrides.KindGroup, Name: "batch", Spec: margin(0.95), Actor: "ivan", Version: 7},
			want: overrides.ErrConflict, wantVersion: 1, wantBy: "olga"},
		{name: "a version for one that does not exist", change: overrides.Change{Kind: overrides.KindGroup, Name: "batch", Spec: margin(0.95), Actor: "ivan", Version: 1},
			want: overrides.ErrNotFound},
		{name: "a playbook never replaces an operator's", seedBy: "olga", change: overrides.Change{Kind: overrides.KindGroup, Name: "batch", Spec: margin(0.97), Actor: "playbook:HeadroomGroupSaturated", Version: 1},
			want: overrides.ErrOperatorOwned, wantVersion: 1, wantBy: "olga"},
		{name: "an operator named like a playbook is an operator", seedBy: "playbooks-team", change: overrides.Change{Kind: overrides.KindGroup, Name: "batch", Spec: margin(0.97), Actor: "playbook:X"},
			want: overrides.ErrOperatorOwned, wantVersion: 1, wantBy: "playbooks-team"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := overridestest.New(t)
			ctx := context.Background()
			audits := 0
			if tt.seedBy != "" {
				seed(t, f, tt.change.Kind, tt.change.Name, tt.seedBy)
				audits++
			}
			o, err := f.Service.Put(ctx, tt.change)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err %v, want %v", err, tt.want)
			}
			if err != nil {
				var oe *overrides.Error
				if !errors.As(err, &oe) {
					t.Fatalf("err %T is not an *overrides.Error", err)
				}
				if tt.want == overrides.ErrInvalid || tt.want == overrides.ErrUnknownTarget {
					if len(oe.Fields) == 0 || oe.Fields[0].Path != tt.wantField {
						t.Fatalf("fields %+v, want the first at %q", oe.Fields, tt.wantField)
					}
				}
				if tt.seedBy != "" && (tt.want == overrides.ErrVersionRequired || tt.want == overrides.ErrMalformedVersion || tt.want == overrides.ErrOperatorOwned) && oe.Current.Version != 1 {
					t.Fatalf("the error names version %d of the current override, want 1", oe.Current.Version)
				}
				if len(f.Replans) != 0 {
					t.Fatalf("a refused change asked for replans %v", f.Replans)
				}
			} else {
				audits++
				if o.Version != tt.wantVersion || o.UpdatedBy != tt.change.Actor || !o.UpdatedAt.Equal(f.Now) {
					t.Fatalf("returned %+v", o)
				}
				if len(f.Replans) != 1 || f.Replans[0] != tt.wantReplan {
					t.Fatalf("replans %v, want [%s]", f.Replans, tt.wantReplan)
				}
			}
			cur, gerr := f.DB.GetOverride(ctx, tt.change.Kind, tt.change.Name)
			switch {
			case tt.wantVersion == 0 && !errors.Is(gerr, store.ErrNotFound):
				t.Fatalf("stored %+v (%v), want none", cur, gerr)
			case tt.wantVersion != 0 && (gerr != nil || cur.Version != tt.wantVersion || cur.UpdatedBy != tt.wantBy):
				t.Fatalf("stored %+v (%v), want version %d by %s", cur, gerr, tt.wantVersion, tt.wantBy)
			}
			as, aerr := f.DB.Audit(ctx, 100)
			if aerr != nil {
				t.Fatal(aerr)
			}
			if len(as) != audits {
				t.Fatalf("%d audit records, want %d: %+v", len(as), audits, as)
			}
			if err == nil && (as[0].Actor != tt.change.Actor || as[0].Action != overrides.ActionPut || as[0].Target != tt.change.Kind+"/"+tt.change.Name) {
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
		{name: "operator removes at the version read", seedBy: "olga", kind: overrides.KindGroup, tgt: "batch", actor: "ivan", version: 1, wantReplan: "batch"},
		{name: "operator removes a playbook's", seedBy: "playbook:A", kind: overrides.KindGroup, tgt: "events", actor: "olga", version: 1, wantReplan: "events"},
		{name: "a playbook lifts its own", seedBy: "playbook:A", kind: overrides.KindGroup, tgt: "batch", actor: "playbook:A", version: 1, wantReplan: "batch"},
		{name: "a project whose configuration is gone replans every group", seedBy: "olga", kind: overrides.KindProject, tgt: "retired", actor: "olga", version: 1, wantReplan: ""},
		{name: "no version", seedBy: "olga", kind: overrides.KindGroup, tgt: "batch", actor: "ivan", want: overrides.ErrVersionRequired},
		{name: "stale version", seedBy: "olga", kind: overrides.KindGroup, tgt: "batch", actor: "ivan", version: 2, want: overrides.ErrConflict},
		{name: "none stored", kind: overrides.KindGroup, tgt: "batch", actor: "ivan", version: 1, want: overrides.ErrNotFound},
		{name: "a playbook never removes an operator's", seedBy: "olga", kind: overrides.KindGroup, tgt: "batch", actor: "playbook:A", version: 1, want: overrides.ErrOperatorOwned},
		{name: "a playbook's lift after a change is left in place", seedBy: "olga", kind: overrides.KindGroup, tgt: "batch", actor: "playbook:A", version: 3, want: overrides.ErrConflict},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := overridestest.New(t)
			ctx := context.Background()
			seeded := 0 // audit records before the delete
			if tt.seedBy != "" {
				seed(t, f, tt.kind, tt.tgt, tt.seedBy)
				seeded = 1
			}
			err := f.Service.Delete(ctx, overrides.Change{Kind: tt.kind, Name: tt.tgt, Actor: tt.actor, Version: tt.version})
			if !errors.Is(err, tt.want) {
				t.Fatalf("err %v, want %v", err, tt.want)
			}
			_, gerr := f.DB.GetOverride(ctx, tt.kind, tt.tgt)
			as, aerr := f.DB.Audit(ctx, 100)
			if aerr != nil {
				t.Fatal(aerr)
			}
			if err != nil {
				if tt.seedBy != "" && gerr != nil {
					t.Fatalf("a refused delete removed it: %v", gerr)
				}
				if len(f.Replans) != 0 || len(as) != seeded {
					t.Fatalf("a refused delete asked for replans %v or wrote audit %+v", f.Replans, as)
				}
				return
			}
			if !errors.Is(gerr, store.ErrNotFound) {
				t.Fatalf("still stored: %v", gerr)
			}
			if len(as) != 2 || as[0].Action != overrides.ActionDelete || as[0].Actor != tt.actor || as[0].Target != tt.kind+"/"+tt.tgt {
				t.Fatalf("audit %+v", as)
			}
			if len(f.Replans) != 1 || f.Replans[0] != tt.wantReplan {
				t.Fatalf("replans %v, want [%s]", f.Replans, tt.wantReplan)
			}
		})
	}
}

// The error of a refused playbook action says who holds the override, so
// that the incident can record why.
func TestServiceErrorNamesTheOwner(t *testing.T) {
	f := overridestest.New(t)
	seed(t, f, overrides.KindGroup, "events", "olga")
	_, err := f.Service.Put(context.Background(), overrides.Change{Kind: overrides.KindGroup, Name: "events", Spec: margin(0.97), Actor: "playbook:A"})
	if want := "put override group/events: olga set one (version 1); a playbook does not replace an operator's override"; err == nil || err.Error() != want {
		t.Fatalf("err %v, want %q", err, want)
	}
	err = f.Service.Delete(context.Background(), overrides.Change{Kind: overrides.KindGroup, Name: "events", Actor: "playbook:A", Version: 2})
	if want := "delete override group/events: olga changed it since (version 1, not the 2 read); left in place"; err == nil || err.Error() != want {
		t.Fatalf("err %v, want %q", err, want)
	}
}

// A store that fails (closed under the service) fails the change with
// the store's error, none of the refusals, and asks for no replan.
func TestServiceStoreFailure(t *testing.T) {
	f := overridestest.New(t)
	f.DB.Close()
	ctx := context.Background()
	_, perr := f.Service.Put(ctx, overrides.Change{Kind: overrides.KindGroup, Name: "batch", Spec: margin(0.95), Actor: "olga"})
	derr := f.Service.Delete(ctx, overrides.Change{Kind: overrides.KindGroup, Name: "batch", Actor: "olga", Version: 1})
	for _, err := range []error{perr, derr} {
		if err == nil {
			t.Fatal("a change on a closed store succeeded")
		}
		for _, refusal := range []error{overrides.ErrInvalid, overrides.ErrUnknownTarget, overrides.ErrVersionRequired, overrides.ErrMalformedVersion, overrides.ErrNotFound, overrides.ErrConflict, overrides.ErrOperatorOwned} {
			if errors.Is(err, refusal) {
				t.Errorf("%v reads as the refusal %v", err, refusal)
			}
		}
	}
	if len(f.Replans) != 0 {
		t.Fatalf("failed changes asked for replans %v", f.Replans)
	}
}
