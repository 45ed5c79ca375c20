// Package plugin is Headroom's Grafana backend datasource. It shows what
// only Headroom knows — plans, borrowing, throttling, the alert loop — by
// reading Headroom's HTTP API with a token kept in Grafana's secure JSON
// data, proxies quota tuning and approvals from Grafana to that API, and
// streams live plan changes.
//
// It talks to Headroom only over the API (package api's routes); it must
// not import any other Headroom package but config for rates.
package plugin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"github.com/grafana/grafana-plugin-sdk-go/backend/instancemgmt"
)

// ID is the plugin id in plugin.json.
const ID = "headroomhq-headroom-datasource"

// Settings are the datasource's settings: the API URL in jsonData and the
// token in secureJsonData.
type Settings struct {
	URL   string `json:"url"`
	Token string `json:"-"`
	// StreamInterval is how often the plan stream polls, in seconds.
	// Default 5.
	StreamInterval int `json:"streamInterval"`
}

// LoadSettings reads and checks the datasource settings.
func LoadSettings(s backend.DataSourceInstanceSettings) (Settings, error) {
	var out Settings
	if len(s.JSONData) > 0 {
		if err := json.Unmarshal(s.JSONData, &out); err != nil {
			return Settings{}, fmt.Errorf("read datasource settings: %w", err)
		}
	}
	if out.URL == "" {
		out.URL = s.URL
	}
	u, err := url.Parse(out.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return Settings{}, fmt.Errorf("read datasource settings: the Headroom URL %q must be http(s)://host:port", out.URL)
	}
	out.URL = strings.TrimRight(out.URL, "/")
	out.Token = s.DecryptedSecureJSONData["token"]
	if out.StreamInterval <= 0 {
		out.StreamInterval = 5
	}
	return out, nil
}

// Datasource is one configured Headroom datasource.
type Datasource struct {
	settings Settings
	client   *http.Client
	now      func() time.Time
}

var (
	_ backend.QueryDataHandler      = (*Datasource)(nil)
	_ backend.CheckHealthHandler    = (*Datasource)(nil)
	_ backend.CallResourceHandler   = (*Datasource)(nil)
	_ backend.StreamHandler         = (*Datasource)(nil)
	_ instancemgmt.InstanceDisposer = (*Datasource)(nil)
)

// NewDatasource is the instance factory Grafana calls.
func NewDatasource(_ context.Context, s backend.DataSourceInstanceSettings) (instancemgmt.Instance, error) {
	settings, err := LoadSettings(s)
	if err != nil {
		return nil, err
	}
	return &Datasource{settings: settings, client: &http.Client{Timeout: 15 * time.Second}, now: time.Now}, nil
}

// Dispose closes idle connections when Grafana replaces the instance.
func (d *Datasource) Dispose() { d.client.CloseIdleConnections() }

// apiError is a non-2xx answer of the API.
type apiError struct {
	Status int
	Title  string
	Detail string
}

func (e *apiError) Error() string {
	msg := fmt.Sprintf("Headroom API answered %d", e.Status)
	if e.Title != "" {
		msg += ": " + e.Title
	}
	if e.Detail != "" {
		msg += " (" + e.Detail + ")"
	}
	return msg
}

// get fetches an API path into v.
func (d *Datasource) get(ctx context.Context, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.settings.URL+path, nil)
	if err != nil {
		return err
	}
	if d.settings.Token != "" {
		req.Header.Set("Authorization", "Bearer "+d.settings.Token)
	}
	resp, err := d.client.Do(req)
	if err != nil {
		return fmt.Errorf("reach Headroom at %s: %w", d.settings.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	if resp.StatusCode/100 != 2 {
		var p struct{ Title, Detail string }
		_ = json.Unmarshal(body, &p)
		return &apiError{Status: resp.StatusCode, Title: p.Title, Detail: p.Detail}
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("decode %s: %w", path, err)
	}
	return nil
}

// CheckHealth reaches the API with the token and says what is wrong.
func (d *Datasource) CheckHealth(ctx context.Context, _ *backend.CheckHealthRequest) (*backend.CheckHealthResult, error) {
	fail := func(msg string) *backend.CheckHealthResult {
		return &backend.CheckHealthResult{Status: backend.HealthStatusError, Message: msg}
	}
	var health map[string]any
	if err := d.get(ctx, "/api/v1/health", &health); err != nil {
		return fail(fmt.Sprintf("Cannot reach the Headroom API at %s: %v", d.settings.URL, err)), nil
	}
	if d.settings.Token == "" {
		return fail("No API token is set: add a viewer (or operator, for tuning) token in the datasource's secure settings."), nil
	}
	var groups []struct {
		Name     string   `json:"name"`
		Projects []string `json:"projects"`
	}
	if err := d.get(ctx, "/api/v1/groups", &groups); err != nil {
		var ae *apiError
		if errors.As(err, &ae) {
			switch ae.Status {
			case http.StatusUnauthorized:
				return fail("Headroom rejected the token (401): it is not among api.tokens; check the token and its SHA-256 in Headroom's config."), nil
			case http.StatusForbidden:
				return fail("The token's role may not read groups (403): give it the viewer role or higher."), nil
			}
		}
		return fail(fmt.Sprintf("Reading resource groups failed: %v", err)), nil
	}
	projects := 0
	for _, g := range groups {
		projects += len(g.Projects)
	}
	return &backend.CheckHealthResult{Status: backend.HealthStatusOk,
		Message: fmt.Sprintf("Headroom API reachable at %s: %d resource group(s), %d project(s).", d.settings.URL, len(groups), projects)}, nil
}
