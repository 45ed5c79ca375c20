package ctl

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
)

// Status prints the replica's view of the election: whether it leads,
// who does and since when, and how far it is behind the state topics.
func (c *Client) Status(ctx context.Context) error {
	raw, _, err := c.do(ctx, "GET", "/api/v1/status", nil, nil)
	if err != nil {
		return err
	}
	return c.print(raw, "mode", "replica", "active", "writable", "epoch", "leader", "leader_since", "lease_until", "state_lag_records")
}

// RevertReason is the reason recorded with the overrides of a revert.
const RevertReason = "headroom ctl revert --to shares"

// RevertToShares pins every project's produce and fetch quota at its share
// (with overrides in force) through the API: the active replica writes
// them and the limiter moves them no more until the pins are removed. Each
// pin is an override, so it is audited and replicated like any other. It
// prints one row per project.
func (c *Client) RevertToShares(ctx context.Context) error {
	raw, _, err := c.do(ctx, "GET", "/api/v1/projects", nil, nil)
	if err != nil {
		return err
	}
	var projects []struct {
		Name    string `json:"name"`
		Produce struct {
			Share float64 `json:"share"`
		} `json:"produce"`
		Fetch struct {
			Share float64 `json:"share"`
		} `json:"fetch"`
	}
	if err := json.Unmarshal(raw, &projects); err != nil {
		return fmt.Errorf("read projects: %w", err)
	}
	type row struct {
		Project string  `json:"project"`
		Produce float64 `json:"produce"`
		Fetch   float64 `json:"fetch"`
		Version float64 `json:"version"`
	}
	var rows []row
	for _, p := range projects {
		path := "/api/v1/overrides/project/" + url.PathEscape(p.Name)
		hdr := map[string]string{}
		_, h, err := c.do(ctx, "GET", path, nil, nil)
		switch e, _ := err.(*Error); {
		case err == nil:
			hdr["If-Match"] = h.Get("ETag")
		case e != nil && e.Status == http.StatusNotFound:
		default:
			return fmt.Errorf("project %s: %w", p.Name, err)
		}
		spec := map[string]any{
			"produce": map[string]any{"pin": p.Produce.Share},
			"fetch":   map[string]any{"pin": p.Fetch.Share},
			"reason":  RevertReason,
		}
		out, _, err := c.do(ctx, "PUT", path, spec, hdr)
		if err != nil {
			return fmt.Errorf("project %s: %w", p.Name, err)
		}
		var o struct {
			Version float64 `json:"version"`
		}
		_ = json.Unmarshal(out, &o)
		rows = append(rows, row{p.Name, p.Produce.Share, p.Fetch.Share, o.Version})
	}
	b, err := json.Marshal(rows)
	if err != nil {
		return err
	}
	return c.print(b, "project", "produce", "fetch", "version")
}
