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
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"github.com/grafana/grafana-plugin-sdk-go/backend/instancemgmt"

	"github.com/headroomhq/headroom/api/client"
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
	// OperatorRole is the least Grafana org role whose users may tune
	// quotas and act on alerts through the datasource: Viewer, Editor or
	// Admin. Default Editor. Everyone else only reads.
	OperatorRole string `json:"operatorRole"`
	// TLSAuthWithCACert trusts secureJsonData.tlsCACert (PEM) for
	// Headroom's certificate, besides the system's CAs; TLSAuth presents
	// secureJsonData.tlsClientCert and tlsClientKey when Headroom asks for
	// a client certificate. Grafana's usual names for both.
	TLSAuthWithCACert bool `json:"tlsAuthWithCACert"`
	TLSAuth           bool `json:"tlsAuth"`
	tls               *tls.Config
}

// Grafana org roles, from least to most allowed.
var grafanaRank = map[string]int{"None": 0, "Viewer": 1, "Editor": 2, "Admin": 3}

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
	if out.OperatorRole == "" {
		out.OperatorRole = "Editor"
	}
	if r := grafanaRank[out.OperatorRole]; r == 0 {
		return Settings{}, fmt.Errorf("read datasource settings: operatorRole %q must be Viewer, Editor or Admin", out.OperatorRole)
	}
	if out.TLSAuthWithCACert || out.TLSAuth {
		out.tls = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	if out.TLSAuthWithCACert {
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM([]byte(s.DecryptedSecureJSONData["tlsCACert"])) {
			return Settings{}, errors.New("read datasource settings: tlsCACert holds no PEM certificate")
		}
		out.tls.RootCAs = pool
	}
	if out.TLSAuth {
		cert, err := tls.X509KeyPair([]byte(s.DecryptedSecureJSONData["tlsClientCert"]), []byte(s.DecryptedSecureJSONData["tlsClientKey"]))
		if err != nil {
			return Settings{}, fmt.Errorf("read datasource settings: tlsClientCert and tlsClientKey: %w", err)
		}
		out.tls.Certificates = []tls.Certificate{cert}
	}
	return out, nil
}

// Datasource is one configured Headroom datasource.
type Datasource struct {
	settings Settings
	// settingsErr is why the settings are unusable; health checks and
	// queries report it rather than Grafana's generic instance error.
	settingsErr error
	client      *http.Client
	// api calls Headroom's API over client.
	api *client.Client
	now func() time.Time
	// ticker paces the plan stream; tests replace it.
	ticker func(time.Duration) (<-chan time.Time, func())
}

var (
	_ backend.QueryDataHandler      = (*Datasource)(nil)
	_ backend.CheckHealthHandler    = (*Datasource)(nil)
	_ backend.CallResourceHandler   = (*Datasource)(nil)
	_ backend.StreamHandler         = (*Datasource)(nil)
	_ instancemgmt.InstanceDisposer = (*Datasource)(nil)
)

// NewDatasource is the instance factory Grafana calls. Bad settings do not
// fail it: the instance then answers every call with what is wrong.
func NewDatasource(_ context.Context, s backend.DataSourceInstanceSettings) (instancemgmt.Instance, error) {
	settings, err := LoadSettings(s)
	hc := &http.Client{Timeout: 15 * time.Second}
	if settings.tls != nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = settings.tls
		hc.Transport = tr
	}
	return &Datasource{settings: settings, settingsErr: err, client: hc, now: time.Now,
		api: &client.Client{URL: settings.URL, Token: settings.Token, HTTP: hc},
		ticker: func(d time.Duration) (<-chan time.Time, func()) {
			t := time.NewTicker(d)
			return t.C, t.Stop
		}}, nil
}

// Dispose closes idle connections when Grafana replaces the instance.
func (d *Datasource) Dispose() { d.client.CloseIdleConnections() }

// CheckHealth reaches the API with the token and says what is wrong: bad
// settings, an unreachable address, an address that is not Headroom's API,
// a store that is down, a missing, unknown (401) or underprivileged (403)
// token.
func (d *Datasource) CheckHealth(ctx context.Context, _ *backend.CheckHealthRequest) (*backend.CheckHealthResult, error) {
	fail := func(format string, a ...any) *backend.CheckHealthResult {
		return &backend.CheckHealthResult{Status: backend.HealthStatusError, Message: fmt.Sprintf(format, a...)}
	}
	if d.settingsErr != nil {
		return fail("Bad datasource settings: %v.", d.settingsErr), nil
	}
	u := d.settings.URL
	var ae *client.Error
	var ce *client.ContentError
	switch health, err := d.api.Health(ctx); {
	case errors.As(err, &ae) && ae.Status == http.StatusServiceUnavailable:
		return fail("Headroom at %s is up but its store is not: %v.", u, err), nil
	case errors.As(err, &ae) && ae.Status == http.StatusNotFound:
		return fail("%s has no /api/v1/health (404): this is not Headroom's API; set the URL to the address of headroom serve, without a path.", u), nil
	case errors.As(err, &ae):
		return fail("Headroom's health check at %s failed: %v.", u, err), nil
	case errors.As(err, &ce):
		return fail("%s answered /api/v1/health with something that is not Headroom's API (%v); set the URL to the address of headroom serve.", u, ce.Err), nil
	case err != nil:
		return fail("Cannot reach the Headroom API at %s: %v.", u, err), nil
	case health.Status != "ok":
		return fail("%s answered /api/v1/health without status ok: this is not Headroom's API, or it is unwell.", u), nil
	}
	if d.settings.Token == "" {
		return fail("No API token is set: add a viewer (or operator, for tuning) token in the datasource's secure settings."), nil
	}
	groups, err := d.api.Groups(ctx)
	if err != nil {
		if errors.As(err, &ae) {
			switch ae.Status {
			case http.StatusUnauthorized:
				return fail("Headroom rejected the token (401): it is not among api.tokens; check the token and its SHA-256 in Headroom's config."), nil
			case http.StatusForbidden:
				return fail("The token's role may not read groups (403): give it the viewer role or higher."), nil
			}
		}
		return fail("Reading resource groups failed: %v.", err), nil
	}
	projects := 0
	for _, g := range groups {
		projects += len(g.Projects)
	}
	return &backend.CheckHealthResult{Status: backend.HealthStatusOk,
		Message: fmt.Sprintf("Headroom API reachable at %s: %d resource group(s), %d project(s).", u, len(groups), projects)}, nil
}
