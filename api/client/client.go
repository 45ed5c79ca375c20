// Package client is the typed Go client of Headroom's HTTP API: one
// method per route that ctl, the Grafana plugin and tests call, decoding
// the answers into the wire types (package api/wire) the API encodes
// them from. A non-2xx answer is an *Error carrying the API's problem
// document; a 2xx answer that is not the API's JSON is a *ContentError.
//
// It speaks to Headroom only over HTTP: it must not import any Headroom
// package but api/wire.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/headroomhq/headroom/api/wire"
)

// maxAnswer bounds what the client reads of one answer.
const maxAnswer = 64 << 20

// Client calls one Headroom API.
type Client struct {
	// URL is the API's base address, without /api/v1.
	URL string
	// Token is the bearer token; empty sends none.
	Token string
	// HTTP is the client; nil uses one with a 30 s timeout.
	HTTP *http.Client
}

// Error is a non-2xx answer: its status and the problem document.
type Error struct {
	Status int
	Title  string
	Detail string
	Fields []wire.ProblemField
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Headroom API answered %d", e.Status)
	if e.Title != "" {
		b.WriteString(": " + e.Title)
	}
	if e.Detail != "" {
		b.WriteString(" (" + e.Detail + ")")
	}
	for _, f := range e.Fields {
		b.WriteString("; " + strings.TrimPrefix(f.Path+": ", ": ") + f.Message)
	}
	return b.String()
}

// IsStatus reports whether err is an *Error with the given status.
func IsStatus(err error, status int) bool {
	var e *Error
	return errors.As(err, &e) && e.Status == status
}

// ContentError is a 2xx answer that is not the JSON the API gives.
type ContentError struct {
	Path, ContentType string
	Err               error
}

func (e *ContentError) Error() string {
	return fmt.Sprintf("decode %s (Content-Type %q): %v", e.Path, e.ContentType, e.Err)
}

func (e *ContentError) Unwrap() error { return e.Err }

// Do sends one request: body (if not nil) as JSON, hdr as headers. It
// returns a 2xx answer's body and headers, and an *Error otherwise.
func (c *Client) Do(ctx context.Context, method, path string, body any, hdr map[string]string) ([]byte, http.Header, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, nil, fmt.Errorf("%s %s: %w", method, path, err)
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
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return nil, nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		e := &Error{Status: resp.StatusCode}
		var p wire.Problem
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

// Get fetches path and decodes the answer into v.
func (c *Client) Get(ctx context.Context, path string, v any) error {
	_, err := c.call(ctx, "GET", path, nil, nil, v)
	return err
}

func (c *Client) call(ctx context.Context, method, path string, body any, hdr map[string]string, v any) (http.Header, error) {
	b, h, err := c.Do(ctx, method, path, body, hdr)
	if err != nil {
		return nil, err
	}
	if v != nil {
		if err := json.Unmarshal(b, v); err != nil {
			return nil, &ContentError{Path: path, ContentType: h.Get("Content-Type"), Err: err}
		}
	}
	return h, nil
}

// get fetches path and decodes the answer as a T.
func get[T any](ctx context.Context, c *Client, path string) (T, error) {
	var v T
	err := c.Get(ctx, path, &v)
	return v, err
}

// Health is GET /api/v1/health.
func (c *Client) Health(ctx context.Context) (wire.Health, error) {
	return get[wire.Health](ctx, c, "/api/v1/health")
}

// Groups lists the resource groups, overrides applied.
func (c *Client) Groups(ctx context.Context) ([]wire.GroupView, error) {
	return get[[]wire.GroupView](ctx, c, "/api/v1/groups")
}

// Group returns one resource group.
func (c *Client) Group(ctx context.Context, name string) (wire.GroupView, error) {
	return get[wire.GroupView](ctx, c, "/api/v1/groups/"+url.PathEscape(name))
}

// Projects lists the projects, overrides applied.
func (c *Client) Projects(ctx context.Context) ([]wire.ProjectView, error) {
	return get[[]wire.ProjectView](ctx, c, "/api/v1/projects")
}

// Project returns one project.
func (c *Client) Project(ctx context.Context, name string) (wire.ProjectView, error) {
	return get[wire.ProjectView](ctx, c, "/api/v1/projects/"+url.PathEscape(name))
}

// Quotas lists the effective quotas: the plan next to what the cluster
// holds.
func (c *Client) Quotas(ctx context.Context) ([]wire.QuotaState, error) {
	return get[[]wire.QuotaState](ctx, c, "/api/v1/quotas")
}

// Overrides lists the overrides in force.
func (c *Client) Overrides(ctx context.Context) ([]wire.OverrideView, error) {
	return get[[]wire.OverrideView](ctx, c, "/api/v1/overrides")
}

func overridePath(kind, name string) string {
	return "/api/v1/overrides/" + url.PathEscape(kind) + "/" + url.PathEscape(name)
}

// override sends one request for an override and returns the override
// answered with its ETag.
func (c *Client) override(ctx context.Context, method, kind, name string, spec any, hdr map[string]string) (wire.OverrideView, string, error) {
	var o wire.OverrideView
	h, err := c.call(ctx, method, overridePath(kind, name), spec, hdr, &o)
	if err != nil {
		return wire.OverrideView{}, "", err
	}
	return o, h.Get("ETag"), nil
}

// Override returns one override and its ETag.
func (c *Client) Override(ctx context.Context, kind, name string) (wire.OverrideView, string, error) {
	return c.override(ctx, "GET", kind, name, nil, nil)
}

// PutOverride creates (ifMatch empty) or replaces (ifMatch the ETag read)
// an override, and returns it with its new ETag. spec is the override's
// JSON body.
func (c *Client) PutOverride(ctx context.Context, kind, name string, spec any, ifMatch string) (wire.OverrideView, string, error) {
	hdr := map[string]string{}
	if ifMatch != "" {
		hdr["If-Match"] = ifMatch
	}
	return c.override(ctx, "PUT", kind, name, spec, hdr)
}

// SetOverride creates or replaces an override: it reads the current one
// first and sends its ETag, so that a concurrent change is refused (412)
// rather than lost.
func (c *Client) SetOverride(ctx context.Context, kind, name string, spec any) (wire.OverrideView, error) {
	_, tag, err := c.Override(ctx, kind, name)
	if err != nil && !IsStatus(err, http.StatusNotFound) {
		return wire.OverrideView{}, err
	}
	o, _, err := c.PutOverride(ctx, kind, name, spec, tag)
	return o, err
}

// DeleteOverride removes the override at the ETag read.
func (c *Client) DeleteOverride(ctx context.Context, kind, name, ifMatch string) error {
	_, err := c.call(ctx, "DELETE", overridePath(kind, name), nil, map[string]string{"If-Match": ifMatch}, nil)
	return err
}

// Span selects a project's series over time. Zero times and limit leave
// the API's defaults.
type Span struct {
	Project, Direction string
	From, To           time.Time
	Limit              int
}

func (s Span) query() string {
	q := url.Values{}
	if s.Project != "" {
		q.Set("project", s.Project)
	}
	if s.Direction != "" {
		q.Set("direction", s.Direction)
	}
	setTime(q, "from", s.From)
	setTime(q, "to", s.To)
	if s.Limit > 0 {
		q.Set("limit", strconv.Itoa(s.Limit))
	}
	return encode(q)
}

func setTime(q url.Values, key string, t time.Time) {
	if !t.IsZero() {
		q.Set(key, t.UTC().Format(time.RFC3339))
	}
}

func encode(q url.Values) string {
	if len(q) == 0 {
		return ""
	}
	return "?" + q.Encode()
}

// Ledger returns a project's decisions over the span.
func (c *Client) Ledger(ctx context.Context, s Span) ([]wire.LedgerView, error) {
	return get[[]wire.LedgerView](ctx, c, "/api/v1/ledger"+s.query())
}

// Signals returns the detector's forecasts for a project over the span.
func (c *Client) Signals(ctx context.Context, s Span) ([]wire.SignalView, error) {
	return get[[]wire.SignalView](ctx, c, "/api/v1/signals"+s.query())
}

// Damage returns the damage ledger over [from, to].
func (c *Client) Damage(ctx context.Context, from, to time.Time) (wire.DamageAnswer, error) {
	q := url.Values{}
	setTime(q, "from", from)
	setTime(q, "to", to)
	return get[wire.DamageAnswer](ctx, c, "/api/v1/damage"+encode(q))
}

// Explain says why a project had its quota at a time (zero: now).
func (c *Client) Explain(ctx context.Context, project, direction string, at time.Time) (wire.Explanation, error) {
	q := url.Values{"project": {project}, "direction": {direction}}
	setTime(q, "at", at)
	return get[wire.Explanation](ctx, c, "/api/v1/explain"+encode(q))
}

// Alerts lists the incidents of the alert loop.
func (c *Client) Alerts(ctx context.Context) ([]wire.IncidentView, error) {
	return get[[]wire.IncidentView](ctx, c, "/api/v1/alerts")
}

// Alert returns one incident with its steps.
func (c *Client) Alert(ctx context.Context, id int64) (wire.IncidentView, error) {
	return get[wire.IncidentView](ctx, c, fmt.Sprintf("/api/v1/alerts/%d", id))
}

// AlertAction runs a lifecycle action on an incident: acknowledge,
// approve or reject (with a reason).
func (c *Client) AlertAction(ctx context.Context, action string, id int64, reason string) (wire.IncidentView, error) {
	var body any
	if action == "reject" {
		body = wire.RejectBody{Reason: reason}
	}
	var in wire.IncidentView
	if _, err := c.call(ctx, "POST", fmt.Sprintf("/api/v1/alerts/%d/%s", id, url.PathEscape(action)), body, nil, &in); err != nil {
		return wire.IncidentView{}, err
	}
	return in, nil
}
