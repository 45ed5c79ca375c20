package store

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"
)

func TestStateSurvivesReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "h.db")
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.State(ctx, "detector"); !errors.Is(err, ErrNoState) {
		t.Fatalf("empty store: %v, want ErrNoState", err)
	}
	at := time.UnixMilli(1_700_000_000_123)
	for _, v := range []string{"first", "second"} {
		if err := db.PutState(ctx, "detector", []byte(v), at); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	db, err = Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	v, when, err := db.State(ctx, "detector")
	if err != nil || string(v) != "second" || !when.Equal(at) {
		t.Fatalf("after reopen: %q %v %v, want the last value saved at %v", v, when, err, at)
	}
}
