package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/headroomhq/headroom/api/wire"
	"github.com/headroomhq/headroom/config"
	"github.com/headroomhq/headroom/limiter/overrides"
	"github.com/headroomhq/headroom/store"
	"github.com/headroomhq/headroom/whatif"
)

// route is one API route; the OpenAPI document is built from the same
// table, so the two cannot drift apart.
type route struct {
	method, path string
	// role is the least role allowed; empty means public.
	role    string
	summary string
	query   []string
	body    string // request schema name, empty for none
	resp    string // success schema name, empty for an undescribed one
	ok      int    // success status
	handler gin.HandlerFunc
}

func (a *API) routes() []route {
	v := config.RoleViewer
	op := config.RoleOperator
	return []route{
		{method: "GET", path: "/api/v1/health", summary: "Health of the API and its store", ok: 200, handler: a.health},
		{method: "GET", path: "/api/v1/openapi.json", summary: "This document", ok: 200, handler: a.openapi},
		{method: "GET", path: "/api/v1/groups", role: v, summary: "Resource groups with overrides applied", ok: 200, handler: a.listGroups},
		{method: "GET", path: "/api/v1/groups/:name", role: v, summary: "One resource group", ok: 200, handler: a.getGroup},
		{method: "GET", path: "/api/v1/projects", role: v, summary: "Projects with overrides applied", ok: 200, handler: a.listProjects},
		{method: "GET", path: "/api/v1/projects/:name", role: v, summary: "One project", ok: 200, handler: a.getProject},
		{method: "GET", path: "/api/v1/quotas", role: v, summary: "Effective quotas: the plan next to what the cluster holds", ok: 200, handler: a.quotas},
		{method: "GET", path: "/api/v1/overrides", role: v, summary: "Overrides in force", ok: 200, handler: a.listOverrides},
		{method: "GET", path: "/api/v1/overrides/:kind/:name", role: v, summary: "One override, with its ETag", ok: 200, handler: a.getOverride},
		{method: "PUT", path: "/api/v1/overrides/:kind/:name", role: op, summary: "Create or replace an override (If-Match to replace)", body: "OverrideSpec", ok: 200, handler: a.putOverride},
		{method: "DELETE", path: "/api/v1/overrides/:kind/:name", role: op, summary: "Remove an override (If-Match required)", ok: 204, handler: a.deleteOverride},
		{method: "GET", path: "/api/v1/ledger", role: v, summary: "A project's decisions over time", query: []string{"project", "direction", "from", "to", "limit"}, ok: 200, handler: a.ledger},
		{method: "GET", path: "/api/v1/signals", role: v, summary: "The detector's forecasts over time: rate, baseline (expected), upper bound, anomaly score, state", query: []string{"project", "direction", "from", "to", "limit"}, resp: "Signals", ok: 200, handler: a.signals},
		{method: "GET", path: "/api/v1/damage", role: v, summary: "The damage ledger: bytes throttled under Headroom's quotas next to what the static shares would have throttled", query: []string{"from", "to"}, resp: "Damage", ok: 200, handler: a.damage},
		{method: "GET", path: "/api/v1/explain", role: v, summary: "Why a project had its quota at a time, and from whom it borrowed", query: []string{"project", "direction", "at"}, ok: 200, handler: a.explain},
		{method: "GET", path: "/api/v1/alerts", role: v, summary: "Incidents of the alert loop", query: []string{"state"}, ok: 200, handler: a.listAlerts},
		{method: "GET", path: "/api/v1/alerts/:id", role: v, summary: "One incident with its steps", ok: 200, handler: a.getAlert},
		{method: "POST", path: "/api/v1/alerts/:id/acknowledge", role: op, summary: "Acknowledge an incident", ok: 200, handler: a.alertAction("acknowledge")},
		{method: "POST", path: "/api/v1/alerts/:id/approve", role: op, summary: "Approve the action waiting on an incident", ok: 200, handler: a.alertAction("approve")},
		{method: "POST", path: "/api/v1/alerts/:id/reject", role: op, summary: "Reject the action waiting on an incident", body: "Reject", ok: 200, handler: a.alertAction("reject")},
		{method: "POST", path: "/api/v1/whatif", role: v, summary: "Replay recent recorded demand with a proposed override, next to the policy in force", body: "WhatIf", ok: 200, handler: a.whatIf},
		{method: "GET", path: "/api/v1/audit", role: config.RoleAdmin, summary: "The audit trail of mutations", query: []string{"limit"}, ok: 200, handler: a.audit},
	}
}

func (a *API) health(c *gin.Context) {
	if err := a.opts.Store.SQL().PingContext(c.Request.Context()); err != nil {
		problem(c, http.StatusServiceUnavailable, "store unavailable", err.Error())
		return
	}
	c.JSON(http.StatusOK, gin.H{"status": "ok"})
}

func groupView(eff overrides.Effective, g config.GroupConfig) GroupView {
	v := GroupView{Name: g.Name, Cluster: g.Cluster, Margin: g.Margin, Frozen: eff.Frozen[g.Name],
		Capacity: RatesView{Produce: float64(g.Capacity.Produce), Fetch: float64(g.Capacity.Fetch)}, Brokers: []int32{}, Projects: []string{}}
	for _, b := range g.Brokers {
		v.Brokers = append(v.Brokers, b.ID)
	}
	for _, p := range eff.Config.Projects {
		if p.Group == g.Name {
			v.Projects = append(v.Projects, p.Name)
		}
	}
	return v
}

func (a *API) listGroups(c *gin.Context) {
	eff, ok := a.effective(c)
	if !ok {
		return
	}
	out := []GroupView{}
	for _, g := range eff.Config.ResourceGroups {
		out = append(out, groupView(eff, g))
	}
	c.JSON(http.StatusOK, out)
}

func (a *API) getGroup(c *gin.Context) {
	eff, ok := a.effective(c)
	if !ok {
		return
	}
	g, found := eff.Config.Group(c.Param("name"))
	if !found {
		problem(c, http.StatusNotFound, "unknown resource group", c.Param("name"))
		return
	}
	c.JSON(http.StatusOK, groupView(eff, *g))
}

func projectView(eff overrides.Effective, p config.ProjectConfig) ProjectView {
	q := func(dir string, c config.QuotaConfig) QuotaView {
		v := QuotaView{Share: float64(c.Share), Floor: float64(c.Floor), Ceiling: float64(c.Ceiling), Weight: c.Weight}
		if pin, ok := eff.Pins[p.Name][dir]; ok {
			v.Pin = &pin
		}
		return v
	}
	return ProjectView{Name: p.Name, Group: p.Group, Entity: p.Entity.String(), Produce: q("produce", p.Produce), Fetch: q("fetch", p.Fetch)}
}

func (a *API) listProjects(c *gin.Context) {
	eff, ok := a.effective(c)
	if !ok {
		return
	}
	out := []ProjectView{}
	for _, p := range eff.Config.Projects {
		out = append(out, projectView(eff, p))
	}
	c.JSON(http.StatusOK, out)
}

func (a *API) getProject(c *gin.Context) {
	eff, ok := a.effective(c)
	if !ok {
		return
	}
	for _, p := range eff.Config.Projects {
		if p.Name == c.Param("name") {
			c.JSON(http.StatusOK, projectView(eff, p))
			return
		}
	}
	problem(c, http.StatusNotFound, "unknown project", c.Param("name"))
}

func (a *API) quotas(c *gin.Context) {
	ctx := c.Request.Context()
	cfg := a.opts.Config()
	held := map[string]map[string]EntityQuota{}
	if a.opts.Quotas != nil {
		for _, cl := range cfg.Clusters {
			q, err := a.opts.Quotas.ClusterQuotas(ctx, cl.Name)
			if err != nil {
				problem(c, http.StatusBadGateway, "read quotas from cluster "+cl.Name, err.Error())
				return
			}
			held[cl.Name] = q
		}
	}
	out := []QuotaState{}
	now := a.opts.Now()
	for _, p := range cfg.Projects {
		g, _ := cfg.Group(p.Group)
		for _, d := range []struct {
			dir   string
			share config.Rate
		}{{"produce", p.Produce.Share}, {"fetch", p.Fetch.Share}} {
			qs := QuotaState{Project: p.Name, Entity: p.Entity.String(), Direction: d.dir, Share: float64(d.share)}
			e, err := a.opts.Store.DecisionAt(ctx, p.Name, d.dir, now)
			switch {
			case err == nil:
				after := e.After
				qs.Planned, qs.PlannedAt, qs.Outcome = &after, e.At.UTC().Format(time.RFC3339), e.Outcome
			case !errors.Is(err, store.ErrNotFound):
				problem(c, http.StatusInternalServerError, "read ledger", err.Error())
				return
			}
			if eq, ok := held[g.Cluster][p.Entity.String()]; ok {
				if d.dir == "produce" {
					qs.Cluster = eq.Produce
				} else {
					qs.Cluster = eq.Fetch
				}
			}
			out = append(out, qs)
		}
	}
	c.JSON(http.StatusOK, out)
}

func parseTimeParam(c *gin.Context, name string, def time.Time) (time.Time, bool) {
	s := c.Query(name)
	if s == "" {
		return def, true
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		problem(c, http.StatusBadRequest, "invalid query parameter", "", wire.ProblemField{Path: name, Message: "want RFC 3339, e.g. 2026-11-23T03:00:00Z"})
		return time.Time{}, false
	}
	return t, true
}

// parseSpan reads the from and to query parameters (RFC 3339; default the
// last span up to now) and answers 400 when from is after to.
func (a *API) parseSpan(c *gin.Context, span time.Duration) (from, to time.Time, ok bool) {
	now := a.opts.Now()
	if from, ok = parseTimeParam(c, "from", now.Add(-span)); !ok {
		return
	}
	if to, ok = parseTimeParam(c, "to", now); !ok {
		return
	}
	if from.After(to) {
		problem(c, http.StatusBadRequest, "invalid query parameter", "", wire.ProblemField{Path: "from", Message: "after to"})
		return from, to, false
	}
	return from, to, true
}

func checkDirection(c *gin.Context, optional bool) (string, bool) {
	d := c.Query("direction")
	if (d == "" && optional) || d == "produce" || d == "fetch" {
		return d, true
	}
	problem(c, http.StatusBadRequest, "invalid query parameter", "", wire.ProblemField{Path: "direction", Message: "want produce or fetch"})
	return "", false
}

func (a *API) requireProject(c *gin.Context) (string, bool) {
	p := c.Query("project")
	for _, pc := range a.opts.Config().Projects {
		if pc.Name == p {
			return p, true
		}
	}
	problem(c, http.StatusBadRequest, "invalid query parameter", "", wire.ProblemField{Path: "project", Message: fmt.Sprintf("unknown project %q", p)})
	return "", false
}

func (a *API) ledger(c *gin.Context) {
	project, ok := a.requireProject(c)
	if !ok {
		return
	}
	dir, ok := checkDirection(c, true)
	if !ok {
		return
	}
	now := a.opts.Now()
	from, ok := parseTimeParam(c, "from", now.Add(-time.Hour))
	if !ok {
		return
	}
	to, ok := parseTimeParam(c, "to", now)
	if !ok {
		return
	}
	limit, ok := parseLimit(c)
	if !ok {
		return
	}
	es, err := a.opts.Store.DecisionHistory(c.Request.Context(), project, dir, from, to, limit)
	if err != nil {
		problem(c, http.StatusInternalServerError, "read ledger", err.Error())
		return
	}
	out := make([]LedgerView, 0, len(es))
	for _, e := range es {
		out = append(out, ledgerView(e))
	}
	c.JSON(http.StatusOK, out)
}

// signals answers the detector's forecasts. Unlike the ledger, project is
// optional: empty means every project.
func (a *API) signals(c *gin.Context) {
	project := ""
	if c.Query("project") != "" {
		p, ok := a.requireProject(c)
		if !ok {
			return
		}
		project = p
	}
	dir, ok := checkDirection(c, true)
	if !ok {
		return
	}
	from, to, ok := a.parseSpan(c, time.Hour)
	if !ok {
		return
	}
	limit, ok := parseLimit(c)
	if !ok {
		return
	}
	es, err := a.opts.Store.Signals(c.Request.Context(), project, dir, from, to, limit)
	if err != nil {
		problem(c, http.StatusInternalServerError, "read signals", err.Error())
		return
	}
	out := make([]SignalView, 0, len(es))
	for _, e := range es {
		out = append(out, SignalView{At: e.At, Project: e.Project, Direction: e.Direction,
			Rate: finite(e.Rate), Expected: finite(e.Expected), Upper: finite(e.Upper), Score: finite(e.Score), State: e.State})
	}
	c.JSON(http.StatusOK, out)
}

// parseLimit reads the limit parameter: 1 to 10000, 1000 when absent.
func parseLimit(c *gin.Context) (int, bool) {
	s := c.Query("limit")
	if s == "" {
		return 1000, true
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 10000 {
		problem(c, http.StatusBadRequest, "invalid query parameter", "", wire.ProblemField{Path: "limit", Message: "want 1 to 10000"})
		return 0, false
	}
	return n, true
}

// finite is v, or nil for NaN and infinities, which JSON cannot carry.
func finite(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

func ledgerView(e store.LedgerEntry) LedgerView {
	f := func(v float64) *float64 {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil
		}
		return &v
	}
	return LedgerView{At: e.At, Round: e.Round, Group: e.Group, Direction: e.Direction, Project: e.Project, Entity: e.Entity,
		Mode: e.Mode, Outcome: e.Outcome, Before: f(e.Before), After: f(e.After), Ideal: f(e.Ideal), Target: f(e.Target),
		Share: f(e.Share), Observed: f(e.Observed), Rate: f(e.Rate), Demand: f(e.Demand), Forecast: f(e.Forecast),
		ThrottleMs: f(e.ThrottleMs), HotBroker: e.HotBroker, Reasons: e.Reasons, BorrowedFrom: transfers(e.BorrowedFrom), LentTo: transfers(e.LentTo),
		Note: e.Note, Error: e.Error}
}

// transfers is the wire form of the ledger's loans; nil stays nil (null).
func transfers(ts []store.LedgerTransfer) []wire.LedgerTransfer {
	if ts == nil {
		return nil
	}
	out := make([]wire.LedgerTransfer, len(ts))
	for i, t := range ts {
		out[i] = wire.LedgerTransfer{Project: t.Project, Bytes: t.Bytes}
	}
	return out
}

func (a *API) explain(c *gin.Context) {
	project, ok := a.requireProject(c)
	if !ok {
		return
	}
	dir, ok := checkDirection(c, false)
	if !ok {
		return
	}
	at, ok := parseTimeParam(c, "at", a.opts.Now())
	if !ok {
		return
	}
	e, err := a.opts.Store.DecisionAt(c.Request.Context(), project, dir, at)
	if errors.Is(err, store.ErrNotFound) {
		problem(c, http.StatusNotFound, "no decision", fmt.Sprintf("no decision for %s (%s) at or before %s", project, dir, at.UTC().Format(time.RFC3339)))
		return
	}
	if err != nil {
		problem(c, http.StatusInternalServerError, "read ledger", err.Error())
		return
	}
	c.JSON(http.StatusOK, Explanation{Project: project, Direction: dir, At: at, Decision: ledgerView(e), Summary: summarize(e)})
}

func summarize(e store.LedgerEntry) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s had a %s quota of %s per broker from %s (share %s, demand %s, outcome %s)",
		e.Project, e.Direction, human(e.After), e.At.UTC().Format(time.RFC3339), human(e.Share), human(e.Demand), e.Outcome)
	if len(e.BorrowedFrom) > 0 {
		var parts []string
		for _, t := range e.BorrowedFrom {
			parts = append(parts, fmt.Sprintf("%s from %s", human(t.Bytes), t.Project))
		}
		b.WriteString("; borrowed " + strings.Join(parts, ", "))
	}
	if len(e.LentTo) > 0 {
		var parts []string
		for _, t := range e.LentTo {
			parts = append(parts, fmt.Sprintf("%s to %s", human(t.Bytes), t.Project))
		}
		b.WriteString("; lent " + strings.Join(parts, ", "))
	}
	if len(e.Reasons) > 0 {
		b.WriteString("; reasons: " + strings.Join(e.Reasons, ", "))
	}
	return b.String()
}

// human renders a rate for people; the ledger's NaN (not known that
// round) reads "unknown".
func human(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "unknown"
	}
	return config.Rate(v).String()
}

func incidentView(in store.Incident) IncidentView {
	return IncidentView{ID: in.ID, AlertName: in.AlertName, State: in.State, Labels: in.Labels, Annotations: in.Annotations,
		OpenedAt: in.OpenedAt, UpdatedAt: in.UpdatedAt, Handling: in.Data}
}

var incidentStates = map[string]bool{"detected": true, "firing": true, "acknowledged": true, "handling": true, "resolved": true, "escalated": true}

func (a *API) listAlerts(c *gin.Context) {
	var states []string
	if s := c.Query("state"); s != "" {
		for _, st := range strings.Split(s, ",") {
			if !incidentStates[st] {
				problem(c, http.StatusBadRequest, "invalid query parameter", "", wire.ProblemField{Path: "state", Message: fmt.Sprintf("unknown state %q", st)})
				return
			}
			states = append(states, st)
		}
	}
	ins, err := a.opts.Store.Incidents(c.Request.Context(), "", states...)
	if err != nil {
		problem(c, http.StatusInternalServerError, "read incidents", err.Error())
		return
	}
	out := []IncidentView{}
	for _, in := range ins {
		out = append(out, incidentView(in))
	}
	c.JSON(http.StatusOK, out)
}

func incidentID(c *gin.Context) (int64, bool) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id < 1 {
		problem(c, http.StatusBadRequest, "invalid incident id", "", wire.ProblemField{Path: "id", Message: "want a positive integer"})
		return 0, false
	}
	return id, true
}

func (a *API) getAlert(c *gin.Context) {
	id, ok := incidentID(c)
	if !ok {
		return
	}
	ctx := c.Request.Context()
	in, err := a.opts.Store.Incident(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		problem(c, http.StatusNotFound, "no such incident", c.Param("id"))
		return
	}
	if err != nil {
		problem(c, http.StatusInternalServerError, "read incident", err.Error())
		return
	}
	v := incidentView(in)
	steps, err := a.opts.Store.IncidentSteps(ctx, id)
	if err != nil {
		problem(c, http.StatusInternalServerError, "read incident", err.Error())
		return
	}
	for _, st := range steps {
		// Field by field: the API answers with its documented step, not
		// whatever the store keeps.
		v.Steps = append(v.Steps, wire.IncidentStep{ID: st.ID, IncidentID: st.IncidentID, At: st.At, From: st.From, To: st.To,
			Actor: st.Actor, Action: st.Action, Result: st.Result})
	}
	c.JSON(http.StatusOK, v)
}

func (a *API) alertAction(action string) gin.HandlerFunc {
	return func(c *gin.Context) {
		id, ok := incidentID(c)
		if !ok {
			return
		}
		var body RejectBody
		if action == "reject" {
			if !decodeJSON(c, &body) {
				return
			}
			if strings.TrimSpace(body.Reason) == "" {
				problem(c, http.StatusUnprocessableEntity, "invalid request body", "", wire.ProblemField{Path: "reason", Message: "required"})
				return
			}
		}
		if a.opts.Alerts == nil {
			problem(c, http.StatusServiceUnavailable, "alerting is not running", "")
			return
		}
		ctx := c.Request.Context()
		before, err := a.opts.Store.Incident(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			problem(c, http.StatusNotFound, "no such incident", c.Param("id"))
			return
		}
		if err != nil {
			problem(c, http.StatusInternalServerError, "read incident", err.Error())
			return
		}
		actor := principal(c).Actor()
		switch action {
		case "acknowledge":
			err = a.opts.Alerts.Acknowledge(ctx, id, actor)
		case "approve":
			err = a.opts.Alerts.Approve(ctx, id, actor)
		case "reject":
			err = a.opts.Alerts.Reject(ctx, id, actor, body.Reason)
		}
		if err != nil {
			problem(c, http.StatusConflict, action+" refused", err.Error())
			return
		}
		after, err := a.opts.Store.Incident(ctx, id)
		if err != nil {
			problem(c, http.StatusInternalServerError, "read incident", err.Error())
			return
		}
		bj, _ := json.Marshal(incidentView(before))
		aj, _ := json.Marshal(incidentView(after))
		if err := a.opts.Store.RecordAudit(ctx, store.AuditRecord{At: a.opts.Now(), Actor: actor, Action: action + "_alert",
			Target: fmt.Sprintf("incident/%d", id), Before: bj, After: aj}); err != nil {
			problem(c, http.StatusInternalServerError, "record audit", err.Error())
			return
		}
		c.JSON(http.StatusOK, incidentView(after))
	}
}

func (a *API) audit(c *gin.Context) {
	limit := 100
	if s := c.Query("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 10000 {
			problem(c, http.StatusBadRequest, "invalid query parameter", "", wire.ProblemField{Path: "limit", Message: "want 1 to 10000"})
			return
		}
		limit = n
	}
	rs, err := a.opts.Store.Audit(c.Request.Context(), limit)
	if err != nil {
		problem(c, http.StatusInternalServerError, "read audit", err.Error())
		return
	}
	if rs == nil {
		rs = []store.AuditRecord{}
	}
	c.JSON(http.StatusOK, rs)
}

// WhatIfBody asks what a proposed override would have done over the last
// window of recorded demand.
type WhatIfBody struct {
	Kind   string         `json:"kind"`
	Name   string         `json:"name"`
	Spec   overrides.Spec `json:"spec"`
	Window string         `json:"window"` // e.g. "6h"; default 24h
}

func (a *API) whatIf(c *gin.Context) {
	var body WhatIfBody
	if !decodeJSON(c, &body) {
		return
	}
	window := 24 * time.Hour
	if body.Window != "" {
		d, err := time.ParseDuration(body.Window)
		if err != nil || d < whatif.MinWindow || d > whatif.MaxWindow {
			problem(c, http.StatusUnprocessableEntity, "invalid request body", "", wire.ProblemField{Path: "window",
				Message: fmt.Sprintf("want a duration from %s to %s, such as 6h", whatif.MinWindow, whatif.MaxWindow)})
			return
		}
		window = d
	}
	now := a.opts.Now()
	if errs := overrides.Validate(a.opts.Config(), body.Kind, body.Name, body.Spec, now); len(errs) > 0 {
		problem(c, http.StatusUnprocessableEntity, "invalid change", "", fieldErrors(errs, "spec.")...)
		return
	}
	ans, err := whatif.Run(c.Request.Context(), a.opts.Store, a.opts.Config(), whatif.Change{Kind: body.Kind, Name: body.Name, Spec: body.Spec}, window, now)
	switch {
	case errors.Is(err, whatif.ErrNoData):
		problem(c, http.StatusConflict, "nothing to replay", err.Error())
		return
	case err != nil:
		problem(c, http.StatusUnprocessableEntity, "what-if failed", err.Error())
		return
	}
	c.JSON(http.StatusOK, ans)
}
