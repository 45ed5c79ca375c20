package plugin

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"github.com/grafana/grafana-plugin-sdk-go/data"

	"github.com/headroomhq/headroom/api/wire"
)

// proxied lists the API paths Grafana may reach through CallResource:
// quota tuning and alert approvals, and the reads their editors need.
var proxied = []struct {
	method, prefix string
}{
	{"GET", "projects"}, {"GET", "groups"}, {"GET", "quotas"}, {"GET", "overrides"}, {"GET", "explain"}, {"GET", "alerts"},
	{"GET", "ledger"},
	{"PUT", "overrides/"}, {"DELETE", "overrides/"}, {"POST", "whatif"},
	{"POST", "alerts/"},
}

// maxResourceBody caps what Grafana may send through the proxy.
const maxResourceBody = 1 << 20

// UserHeader names, to the API, the Grafana user a write is made for; the
// API accepts it only from a token marked proxy: true, and audits it.
const UserHeader = "X-Headroom-User"

// isWrite says whether a proxied call changes anything: every call but a
// GET and the what-if replay.
func isWrite(method, path string) bool {
	return method != http.MethodGet && !(method == http.MethodPost && path == "whatif")
}

// login names a Grafana user for the audit: the login, else the e-mail,
// else the display name.
func login(u *backend.User) string {
	for _, s := range []string{u.Login, u.Email, u.Name} {
		if s != "" {
			return s
		}
	}
	return ""
}

// CallResource proxies allowed calls to /api/v1 with the datasource's
// token, passing the status, body and ETag back. It reads the Grafana user
// of every call: writes (tuning, alert actions) need the operator role of
// the settings, and carry the user's login for Headroom's audit; any other
// user gets 403 from the plugin itself, whatever the token could do.
func (d *Datasource) CallResource(ctx context.Context, req *backend.CallResourceRequest, sender backend.CallResourceResponseSender) error {
	if d.settingsErr != nil {
		return sendJSON(sender, http.StatusBadGateway, map[string]string{"title": "bad datasource settings", "detail": d.settingsErr.Error()})
	}
	path, _, _ := strings.Cut(strings.TrimPrefix(req.Path, "/"), "?")
	allowed := false
	for _, p := range proxied {
		if req.Method == p.method && (path == strings.TrimSuffix(p.prefix, "/") || strings.HasPrefix(path, p.prefix)) &&
			!strings.Contains(path, "..") {
			allowed = true
		}
	}
	if !allowed {
		return sendJSON(sender, http.StatusForbidden, map[string]string{"title": fmt.Sprintf("%s %s is not proxied", req.Method, req.Path)})
	}
	var onBehalf string
	if isWrite(req.Method, path) {
		u := req.PluginContext.User
		role, who := "no user", ""
		if u != nil {
			role, who = u.Role, login(u)
		}
		if u == nil || who == "" || grafanaRank[role] < grafanaRank[d.settings.OperatorRole] {
			return sendJSON(sender, http.StatusForbidden, map[string]string{"title": "forbidden",
				"detail": fmt.Sprintf("tuning quotas and acting on alerts from Grafana needs the %s role or higher in this datasource's settings; you have %s", d.settings.OperatorRole, role)})
		}
		onBehalf = who
	}
	if len(req.Body) > maxResourceBody {
		return sendJSON(sender, http.StatusRequestEntityTooLarge, map[string]string{"title": "request body too large"})
	}
	target := d.settings.URL + "/api/v1/" + path
	if i := strings.Index(req.URL, "?"); i >= 0 {
		target += req.URL[i:]
	}
	hreq, err := http.NewRequestWithContext(ctx, req.Method, target, bytes.NewReader(req.Body))
	if err != nil {
		return sendJSON(sender, http.StatusBadRequest, map[string]string{"title": err.Error()})
	}
	if d.settings.Token != "" {
		hreq.Header.Set("Authorization", "Bearer "+d.settings.Token)
	}
	if onBehalf != "" {
		hreq.Header.Set(UserHeader, onBehalf)
	}
	for _, h := range []string{"If-Match", "Content-Type"} {
		if v := req.Headers[h]; len(v) > 0 {
			hreq.Header.Set(h, v[0])
		}
	}
	resp, err := d.client.Do(hreq)
	if err != nil {
		return sendJSON(sender, http.StatusBadGateway, map[string]string{"title": "reach Headroom", "detail": err.Error()})
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return sendJSON(sender, http.StatusBadGateway, map[string]string{"title": "read Headroom's answer", "detail": err.Error()})
	}
	hdr := map[string][]string{"Content-Type": {resp.Header.Get("Content-Type")}}
	if et := resp.Header.Get("ETag"); et != "" {
		hdr["ETag"] = []string{et}
	}
	return sender.Send(&backend.CallResourceResponse{Status: resp.StatusCode, Headers: hdr, Body: body})
}

func sendJSON(sender backend.CallResourceResponseSender, status int, v any) error {
	b, _ := json.Marshal(v)
	return sender.Send(&backend.CallResourceResponse{Status: status, Headers: map[string][]string{"Content-Type": {"application/json"}}, Body: b})
}

// StreamPath is the channel path of live plan changes.
const StreamPath = "plans"

// SubscribeStream admits subscriptions to the plan stream only.
func (d *Datasource) SubscribeStream(_ context.Context, req *backend.SubscribeStreamRequest) (*backend.SubscribeStreamResponse, error) {
	if req.Path != StreamPath {
		return &backend.SubscribeStreamResponse{Status: backend.SubscribeStreamStatusNotFound}, nil
	}
	return &backend.SubscribeStreamResponse{Status: backend.SubscribeStreamStatusOK}, nil
}

// PublishStream refuses: the stream is Headroom's, not the browser's.
func (d *Datasource) PublishStream(context.Context, *backend.PublishStreamRequest) (*backend.PublishStreamResponse, error) {
	return &backend.PublishStreamResponse{Status: backend.PublishStreamStatusPermissionDenied}, nil
}

// RunStream polls the effective quotas and sends a frame with the rows
// whose planned quota changed since the last poll (all rows on the
// first). A round that re-plans the same quota is not a change.
func (d *Datasource) RunStream(ctx context.Context, req *backend.RunStreamRequest, sender *backend.StreamSender) error {
	if req.Path != StreamPath {
		return fmt.Errorf("unknown stream %q", req.Path)
	}
	if d.settingsErr != nil {
		return d.settingsErr
	}
	last := map[string]string{}
	tick, stop := d.ticker(time.Duration(d.settings.StreamInterval) * time.Second)
	defer stop()
	for {
		if qs, err := d.api.Quotas(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			backend.Logger.Warn("plan stream: read quotas failed", "error", err)
		} else if f := changed(qs, last, d.now()); f != nil {
			if err := sender.SendFrame(f, data.IncludeAll); err != nil {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick:
		}
	}
}

func changed(qs []wire.QuotaState, last map[string]string, now time.Time) *data.Frame {
	var ts []time.Time
	var project, dir []string
	var planned []float64
	for _, q := range qs {
		if q.Planned == nil {
			continue
		}
		key := q.Project + "/" + q.Direction
		sig := fmt.Sprint(*q.Planned)
		if last[key] == sig {
			continue
		}
		last[key] = sig
		ts, project, dir, planned = append(ts, now), append(project, q.Project), append(dir, q.Direction), append(planned, *q.Planned)
	}
	if len(ts) == 0 {
		return nil
	}
	return data.NewFrame("plans", data.NewField("time", nil, ts), data.NewField("project", nil, project),
		data.NewField("direction", nil, dir), data.NewField("planned", nil, planned).SetConfig(&data.FieldConfig{Unit: "Bps"}))
}
