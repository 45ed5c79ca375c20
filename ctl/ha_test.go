package ctl

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/headroomhq/headroom/api/client"
	"github.com/headroomhq/headroom/config"
)

// RevertToShares pins every project at its share through the real API,
// and a second revert replaces the pins (the ETag path).
func TestRevertToShares(t *testing.T) {
	url := headroomAPI(t)
	ctx := context.Background()
	cfg, err := config.LoadFile("../examples/headroom.yml")
	if err != nil {
		t.Fatal(err)
	}
	for round := 1; round <= 2; round++ {
		var out bytes.Buffer
		c := &Client{URL: url, Token: "op", Out: &out}
		if err := c.RevertToShares(ctx); err != nil {
			t.Fatalf("revert %d: %v", round, err)
		}
		for _, p := range cfg.Projects {
			if !strings.Contains(out.String(), p.Name) {
				t.Errorf("revert %d: output lacks %s:\n%s", round, p.Name, out.String())
			}
			ov, _, err := (&client.Client{URL: url, Token: "op"}).Override(ctx, "project", p.Name)
			if err != nil {
				t.Fatalf("override %s: %v", p.Name, err)
			}
			o := struct {
				Version int
				Spec    struct {
					Produce struct{ Pin float64 } `json:"produce"`
					Fetch   struct{ Pin float64 } `json:"fetch"`
					Reason  string                `json:"reason"`
				}
			}{Version: ov.Version}
			if err := json.Unmarshal(ov.Spec, &o.Spec); err != nil {
				t.Fatal(err)
			}
			if o.Version != round || o.Spec.Produce.Pin != float64(p.Produce.Share) || o.Spec.Fetch.Pin != float64(p.Fetch.Share) || o.Spec.Reason != RevertReason {
				t.Errorf("revert %d: %s override %+v, want version %d pinned at %v/%v", round, p.Name, o, round, p.Produce.Share, p.Fetch.Share)
			}
		}
	}
}
