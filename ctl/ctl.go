// Package ctl is the client side of `headroom ctl`: it calls Headroom's
// API for the common operations (list, show, override, explain,
// acknowledge, approve, reject) and prints tables for people or JSON for
// scripts.
//
// It speaks to Headroom only over HTTP; it must not import the API's or
// any component's package.
package ctl

import (
	"bytes"
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
)

// Client calls the API.
type Client struct {
	URL   string
	Token string
	HTTP  *http.Client
	// JSON prints raw JSON instead of tables.
	JSON bool
	Out  io.Writer
}

// Error is a non-2xx answer.
type Error struct {
	Status int
	Title  string
	Detail string
	Fields []struct{ Path, Message string }
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d %s", e.Status, e.Title)
	if e.Detail != "" {
		b.WriteString(": " + e.Detail)
	}
	for _, f := range e.Fields {
		fmt.Fprintf(&b, "\n  %s: %s", f.Path, f.Message)
	}
	return b.String()
}

func (c *Client) do(ctx context.Context, method, path string, body any, hdr map[string]string) ([]byte, http.Header, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.URL, "/")+path, rd)
	if err != nil {
		return nil, nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		e := &Error{Status: resp.StatusCode}
		var p struct {
			Title, Detail string
			Errors        []struct{ Path, Message string }
		}
		if json.Unmarshal(b, &p) == nil {
			e.Title, e.Detail, e.Fields = p.Title, p.Detail, p.Errors
		}
		if e.Title == "" {
			e.Title = http.StatusText(resp.StatusCode)
		}
		return nil, nil, e
	}
	return b, resp.Header, nil
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
	columns := map[string][]string{
		"groups":    {"name", "cluster", "brokers", "capacity.produce", "capacity.fetch", "margin", "frozen", "projects"},
		"projects":  {"name", "group", "entity", "produce.share", "produce.ceiling", "fetch.share", "fetch.ceiling"},
		"quotas":    {"project", "direction", "share", "planned", "cluster", "outcome", "planned_at"},
		"overrides": {"kind", "name", "version", "updated_by", "updated_at", "spec"},
		"alerts":    {"id", "alertname", "state", "labels", "opened_at", "updated_at"},
	}[what]
	if columns == nil {
		return fmt.Errorf("cannot list %q: want groups, projects, quotas, overrides or alerts", what)
	}
	raw, _, err := c.do(ctx, "GET", "/api/v1/"+what, nil, nil)
	if err != nil {
		return err
	}
	return c.print(raw, columns...)
}

// Show prints one group, project or alert.
func (c *Client) Show(ctx context.Context, what, name string) error {
	paths := map[string]string{"group": "groups", "project": "projects", "alert": "alerts"}
	p, ok := paths[what]
	if !ok {
		return fmt.Errorf("cannot show %q: want group, project or alert", what)
	}
	raw, _, err := c.do(ctx, "GET", "/api/v1/"+p+"/"+url.PathEscape(name), nil, nil)
	if err != nil {
		return err
	}
	if c.JSON || what == "alert" {
		c.JSON = true
		return c.print(raw)
	}
	cols := map[string][]string{
		"group":   {"name", "cluster", "brokers", "capacity.produce", "capacity.fetch", "margin", "frozen", "projects"},
		"project": {"name", "group", "entity", "produce.share", "produce.floor", "produce.ceiling", "produce.weight", "fetch.share", "fetch.floor", "fetch.ceiling", "fetch.weight"},
	}[what]
	return c.print(raw, cols...)
}

// Override creates or replaces an override. It reads the current one
// first and sends its ETag, so a concurrent change is refused rather than
// lost.
func (c *Client) Override(ctx context.Context, kind, name string, spec map[string]any) error {
	path := "/api/v1/overrides/" + url.PathEscape(kind) + "/" + url.PathEscape(name)
	hdr := map[string]string{}
	_, h, err := c.do(ctx, "GET", path, nil, nil)
	switch e, _ := err.(*Error); {
	case err == nil:
		hdr["If-Match"] = h.Get("ETag")
	case e != nil && e.Status == http.StatusNotFound:
	default:
		return err
	}
	raw, _, err := c.do(ctx, "PUT", path, spec, hdr)
	if err != nil {
		return err
	}
	return c.print(raw, "kind", "name", "version", "updated_by", "spec")
}

// Explain prints why a project had its quota.
func (c *Client) Explain(ctx context.Context, project, direction string, at time.Time) error {
	q := url.Values{"project": {project}, "direction": {direction}}
	if !at.IsZero() {
		q.Set("at", at.UTC().Format(time.RFC3339))
	}
	raw, _, err := c.do(ctx, "GET", "/api/v1/explain?"+q.Encode(), nil, nil)
	if err != nil {
		return err
	}
	if c.JSON {
		return c.print(raw)
	}
	var ex struct{ Summary string }
	if err := json.Unmarshal(raw, &ex); err != nil {
		return err
	}
	_, err = fmt.Fprintln(c.Out, ex.Summary)
	return err
}

// Alert runs a lifecycle action: acknowledge, approve or reject.
func (c *Client) Alert(ctx context.Context, action string, id int64, reason string) error {
	var body any
	if action == "reject" {
		body = map[string]string{"reason": reason}
	}
	raw, _, err := c.do(ctx, "POST", fmt.Sprintf("/api/v1/alerts/%d/%s", id, action), body, nil)
	if err != nil {
		return err
	}
	return c.print(raw, "id", "alertname", "state", "updated_at")
}
