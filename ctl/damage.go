package ctl

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"
)

// Damage prints the damage ledger over [from, to] (zero times: the API's
// default, the last day): per project and direction, the bytes throttled
// under Headroom's quotas, what the static shares would have throttled, and
// what borrowing avoided.
func (c *Client) Damage(ctx context.Context, from, to time.Time) error {
	a, err := c.api().Damage(ctx, from, to)
	if err != nil || c.JSON {
		return c.show(a, err)
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
