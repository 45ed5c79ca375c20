// Package ctl is the client side of `headroom ctl`: it calls Headroom's
// API for the common operations (list, show, override, explain,
// acknowledge, approve, reject) and prints tables for people or JSON for
// scripts.
//
// It speaks to Headroom only over HTTP, through the API's typed client: it
// must not import any Headroom package but api/client and api/wire.
package ctl

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/headroomhq/headroom/api/client"
)

// Client calls the API through its typed client and prints the answers.
type Client struct {
	URL   string
	Token string
	HTTP  *http.Client
	// JSON prints raw JSON instead of tables.
	JSON bool
	Out  io.Writer
}

func (c *Client) api() *client.Client {
	return &client.Client{URL: c.URL, Token: c.Token, HTTP: c.HTTP}
}

// show prints an answer (as JSON, or as a table of the named columns).
func (c *Client) show(v any, err error, columns ...string) error {
	if err != nil {
		return err
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return c.print(raw, columns...)
}

// print writes the JSON as is, or as a table of the named columns.
func (c *Client) print(raw []byte, columns ...string) error {
	if c.JSON {
		var v any
		if err := json.Unmarshal(raw, &v); err != nil {
			return err
		}
		enc := json.NewEncoder(c.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	var rows []map[string]any
	if err := json.Unmarshal(raw, &rows); err != nil {
		var one map[string]any
		if err := json.Unmarshal(raw, &one); err != nil {
			return err
		}
		rows = []map[string]any{one}
	}
	tw := tabwriter.NewWriter(c.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.ToUpper(strings.Join(columns, "\t")))
	for _, r := range rows {
		cells := make([]string, len(columns))
		for i, col := range columns {
			cells[i] = cell(lookup(r, col), col)
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	return tw.Flush()
}

// lookup reads a dotted path.
func lookup(m map[string]any, path string) any {
	var v any = m
	for _, k := range strings.Split(path, ".") {
		mm, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = mm[k]
	}
	return v
}

var rateColumns = map[string]bool{"produce.share": true, "fetch.share": true, "produce.floor": true, "fetch.floor": true, "produce.ceiling": true, "fetch.ceiling": true,
	"planned": true, "cluster": true, "share": true, "produce": true, "fetch": true, "capacity.produce": true, "capacity.fetch": true}

func cell(v any, col string) string {
	switch x := v.(type) {
	case nil:
		return "-"
	case float64:
		if rateColumns[col] {
			return human(x)
		}
		if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
			// Ids (an incident's is up to 2^53) in full, not as 7.1e+15.
			return strconv.FormatInt(int64(x), 10)
		}
		return fmt.Sprintf("%g", x)
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = fmt.Sprint(e)
		}
		return strings.Join(parts, ",")
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = fmt.Sprintf("%s=%v", k, x[k])
		}
		return strings.Join(parts, ",")
	}
	return fmt.Sprint(v)
}

func human(v float64) string { return binary(v, "B/s", "KiB/s", "MiB/s", "GiB/s") }

// binary prints v in the first unit it is below 1024 of, each unit 1024
// times the last; a negative v keeps its sign.
func binary(v float64, units ...string) string {
	sign := ""
	if v < 0 {
		sign, v = "-", -v
	}
	i := 0
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	return sign + strings.TrimSuffix(strings.TrimSuffix(fmt.Sprintf("%.2f", v), "0"), ".0") + units[i]
}

// List prints a collection: groups, projects, quotas, overrides or alerts.
func (c *Client) List(ctx context.Context, what string) error {
	api := c.api()
	switch what {
	case "groups":
		v, err := api.Groups(ctx)
		return c.show(v, err, groupColumns...)
	case "projects":
		v, err := api.Projects(ctx)
		return c.show(v, err, "name", "group", "entity", "produce.share", "produce.ceiling", "fetch.share", "fetch.ceiling")
	case "quotas":
		v, err := api.Quotas(ctx)
		return c.show(v, err, "project", "direction", "share", "planned", "cluster", "outcome", "planned_at")
	case "overrides":
		v, err := api.Overrides(ctx)
		return c.show(v, err, "kind", "name", "version", "updated_by", "updated_at", "spec")
	case "alerts":
		v, err := api.Alerts(ctx)
		return c.show(v, err, "id", "alertname", "state", "labels", "opened_at", "updated_at")
	}
	return fmt.Errorf("cannot list %q: want groups, projects, quotas, overrides or alerts", what)
}

var groupColumns = []string{"name", "cluster", "brokers", "capacity.produce", "capacity.fetch", "margin", "frozen", "projects"}

// Show prints one group, project or alert.
func (c *Client) Show(ctx context.Context, what, name string) error {
	api := c.api()
	switch what {
	case "group":
		v, err := api.Group(ctx, name)
		return c.show(v, err, groupColumns...)
	case "project":
		v, err := api.Project(ctx, name)
		return c.show(v, err, "name", "group", "entity", "produce.share", "produce.floor", "produce.ceiling", "produce.weight",
			"fetch.share", "fetch.floor", "fetch.ceiling", "fetch.weight")
	case "alert":
		id, err := strconv.ParseInt(name, 10, 64)
		if err != nil {
			// Not an id: the API's answer names the problem.
			return api.Get(ctx, "/api/v1/alerts/"+url.PathEscape(name), nil)
		}
		v, err := api.Alert(ctx, id)
		c.JSON = true
		return c.show(v, err)
	}
	return fmt.Errorf("cannot show %q: want group, project or alert", what)
}

// Override creates or replaces an override. It reads the current one
// first and sends its ETag, so a concurrent change is refused rather than
// lost.
func (c *Client) Override(ctx context.Context, kind, name string, spec map[string]any) error {
	v, err := c.api().SetOverride(ctx, kind, name, spec)
	return c.show(v, err, "kind", "name", "version", "updated_by", "spec")
}

// Explain prints why a project had its quota.
func (c *Client) Explain(ctx context.Context, project, direction string, at time.Time) error {
	ex, err := c.api().Explain(ctx, project, direction, at)
	if err != nil || c.JSON {
		return c.show(ex, err)
	}
	_, err = fmt.Fprintln(c.Out, ex.Summary)
	return err
}

// Alert runs a lifecycle action: acknowledge, approve or reject.
func (c *Client) Alert(ctx context.Context, action string, id int64, reason string) error {
	v, err := c.api().AlertAction(ctx, action, id, reason)
	return c.show(v, err, "id", "alertname", "state", "updated_at")
}
