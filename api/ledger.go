package api

// The ledger's read models: decisions over time, the detector's signals,
// and why a project had its quota.

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/headroomhq/headroom/api/wire"
	"github.com/headroomhq/headroom/config"
	"github.com/headroomhq/headroom/store"
)

// ledgerRoutes read the decisions and the signals.
func (a *API) ledgerRoutes() []route {
	v := config.RoleViewer
	return []route{
		{method: "GET", path: "/api/v1/ledger", role: v, summary: "A project's decisions over time", query: []string{"project", "direction", "from", "to", "limit"}, ok: 200, handler: a.ledger},
		{method: "GET", path: "/api/v1/signals", role: v, summary: "The detector's forecasts over time: rate, baseline (expected), upper bound, anomaly score, state", query: []string{"project", "direction", "from", "to", "limit"}, resp: "Signals", ok: 200, handler: a.signals},
		{method: "GET", path: "/api/v1/explain", role: v, summary: "Why a project had its quota at a time, and from whom it borrowed", query: []string{"project", "direction", "at"}, ok: 200, handler: a.explain},
	}
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
	limit, ok := parseLimit(c, 1000)
	if !ok {
		return
	}
	es, err := a.opts.Store.DecisionHistory(c.Request.Context(), project, dir, from, to, limit)
	if err != nil {
		problem(c, http.StatusInternalServerError, "read ledger", err.Error())
		return
	}
	answerList(c, es, ledgerView)
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
	limit, ok := parseLimit(c, 1000)
	if !ok {
		return
	}
	es, err := a.opts.Store.Signals(c.Request.Context(), project, dir, from, to, limit)
	if err != nil {
		problem(c, http.StatusInternalServerError, "read signals", err.Error())
		return
	}
	answerList(c, es, func(e store.SignalEntry) SignalView {
		return SignalView{At: e.At, Project: e.Project, Direction: e.Direction,
			Rate: finite(e.Rate), Expected: finite(e.Expected), Upper: finite(e.Upper), Score: finite(e.Score), State: e.State}
	})
}

func ledgerView(e store.LedgerEntry) LedgerView {
	f := finite
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
