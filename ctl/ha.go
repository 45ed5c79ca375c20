package ctl

import (
	"context"
	"encoding/json"
	"fmt"
)

// Status prints the replica's view of the election: whether it leads,
// who does and since when, and how far it is behind the state topics.
func (c *Client) Status(ctx context.Context) error {
	var status json.RawMessage
	if err := c.api().Get(ctx, "/api/v1/status", &status); err != nil {
		return err
	}
	return c.print(status, "mode", "replica", "active", "writable", "epoch", "leader", "leader_since", "lease_until", "state_lag_records")
}

// RevertReason is the reason recorded with the overrides of a revert.
const RevertReason = "headroom ctl revert --to shares"

// RevertToShares pins every project's produce and fetch quota at its share
// (with overrides in force) through the API: the active replica writes
// them and the limiter moves them no more until the pins are removed. Each
// pin is an override, so it is audited and replicated like any other. It
// prints one row per project.
func (c *Client) RevertToShares(ctx context.Context) error {
	api := c.api()
	projects, err := api.Projects(ctx)
	if err != nil {
		return err
	}
	type row struct {
		Project string  `json:"project"`
		Produce float64 `json:"produce"`
		Fetch   float64 `json:"fetch"`
		Version float64 `json:"version"`
	}
	var rows []row
	for _, p := range projects {
		spec := map[string]any{
			"produce": map[string]any{"pin": p.Produce.Share},
			"fetch":   map[string]any{"pin": p.Fetch.Share},
			"reason":  RevertReason,
		}
		o, err := api.SetOverride(ctx, "project", p.Name, spec)
		if err != nil {
			return fmt.Errorf("project %s: %w", p.Name, err)
		}
		rows = append(rows, row{p.Name, p.Produce.Share, p.Fetch.Share, float64(o.Version)})
	}
	return c.show(rows, nil, "project", "produce", "fetch", "version")
}
