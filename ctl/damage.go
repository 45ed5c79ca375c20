package ctl

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"
)

// damageAnswer mirrors the API's damage answer; only what the table shows.
type damageAnswer struct {
	Projects []struct {
		Project       string  `json:"project"`
		Direction     string  `json:"direction"`
		HeadroomBytes float64 `json:"headroom_bytes"`
		StaticBytes   float64 `json:"static_bytes"`
		AvoidedBytes  float64 `json:"avoided_bytes"`
	} `json:"projects"`
	Total struct {
		HeadroomBytes float64 `json:"headroom_bytes"`
		StaticBytes   float64 `json:"static_bytes"`
		AvoidedBytes  float64 `json:"avoided_bytes"`
	} `json:"total"`
	AvoidedRatio *float64 `json:"avoided_ratio"`
}

// Damage prints the damage ledger over [from, to] (zero times: the API's
// default, the last day): per project and direction, the bytes throttled
// under Headroom's quotas, what the static shares would have throttled, and
// what borrowing avoided.
func (c *Client) Damage(ctx context.Context, from, to time.Time) error {
	q := url.Values{}
	if !from.IsZero() {
		q.Set("from", from.UTC().Format(time.RFC3339))
	}
	if !to.IsZero() {
		q.Set("to", to.UTC().Format(time.RFC3339))
	}
	path := "/api/v1/damage"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	raw, _, err := c.do(ctx, "GET", path, nil, nil)
	if err != nil {
		return err
	}
	if c.JSON {
		return c.print(raw)
	}
	var a damageAnswer
	if err := json.Unmarshal(raw, &a); err != nil {
		return fmt.Errorf("read damage: %w", err)
	}
	tw := tabwriter.NewWriter(c.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join([]string{"PROJECT", "DIRECTION", "THROTTLED (HEADROOM)", "THROTTLED (STATIC)", "AVOIDED"}, "\t"))
	for _, p := range a.Projects {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", p.Project, p.Direction, bytesHuman(p.HeadroomBytes), bytesHuman(p.StaticBytes), bytesHuman(p.AvoidedBytes))
	}
	ratio := "-"
	if a.AvoidedRatio != nil {
		ratio = fmt.Sprintf("%.1f%%", 100**a.AvoidedRatio)
	}
	fmt.Fprintf(tw, "total\t\t%s\t%s\t%s (%s)\n", bytesHuman(a.Total.HeadroomBytes), bytesHuman(a.Total.StaticBytes), bytesHuman(a.Total.AvoidedBytes), ratio)
	return tw.Flush()
}

// bytesHuman prints a byte count in binary units.
func bytesHuman(v float64) string { return binary(v, "B", "KiB", "MiB", "GiB", "TiB") }
