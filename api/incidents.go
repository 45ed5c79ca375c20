package api

// The incidents of the alert loop, and the operator's actions on them.

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/headroomhq/headroom/api/wire"
	"github.com/headroomhq/headroom/config"
	"github.com/headroomhq/headroom/store"
)

// incidentRoutes read incidents and act on them.
func (a *API) incidentRoutes() []route {
	v := config.RoleViewer
	op := config.RoleOperator
	return []route{
		{method: "GET", path: "/api/v1/alerts", role: v, summary: "Incidents of the alert loop", query: []string{"state"}, ok: 200, handler: a.listAlerts},
		{method: "GET", path: "/api/v1/alerts/:id", role: v, summary: "One incident with its steps", ok: 200, handler: a.getAlert},
		{method: "POST", path: "/api/v1/alerts/:id/acknowledge", role: op, summary: "Acknowledge an incident", ok: 200, handler: a.alertAction("acknowledge")},
		{method: "POST", path: "/api/v1/alerts/:id/approve", role: op, summary: "Approve the action waiting on an incident", ok: 200, handler: a.alertAction("approve")},
		{method: "POST", path: "/api/v1/alerts/:id/reject", role: op, summary: "Reject the action waiting on an incident", body: "Reject", ok: 200, handler: a.alertAction("reject")},
	}
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
	answerList(c, ins, incidentView)
}

func incidentID(c *gin.Context) (int64, bool) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id < 1 {
		problem(c, http.StatusBadRequest, "invalid incident id", "", wire.ProblemField{Path: "id", Message: "want a positive integer"})
		return 0, false
	}
	return id, true
}

// readIncident reads incident id. On failure it has answered 404 or 500
// and returns false.
func (a *API) readIncident(c *gin.Context, id int64) (store.Incident, bool) {
	in, err := a.opts.Store.Incident(c.Request.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		problem(c, http.StatusNotFound, "no such incident", c.Param("id"))
		return store.Incident{}, false
	}
	if err != nil {
		problem(c, http.StatusInternalServerError, "read incident", err.Error())
		return store.Incident{}, false
	}
	return in, true
}

func (a *API) getAlert(c *gin.Context) {
	id, ok := incidentID(c)
	if !ok {
		return
	}
	ctx := c.Request.Context()
	in, ok := a.readIncident(c, id)
	if !ok {
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
		before, ok := a.readIncident(c, id)
		if !ok {
			return
		}
		actor := principal(c).Actor()
		var err error
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
