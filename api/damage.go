package api

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
)

// DamageView is the damage ledger of one project and direction over a span:
// bytes throttled under Headroom's quotas, bytes the static shares would
// have throttled, and what borrowing saved.
type DamageView struct {
	Project       string  `json:"project"`
	Direction     string  `json:"direction"`
	HeadroomBytes float64 `json:"headroom_bytes"`
	StaticBytes   float64 `json:"static_bytes"`
	AvoidedBytes  float64 `json:"avoided_bytes"`
	Rounds        int     `json:"rounds"`
}

// DamageAnswer is GET /api/v1/damage.
type DamageAnswer struct {
	From     time.Time    `json:"from"`
	To       time.Time    `json:"to"`
	Projects []DamageView `json:"projects"`
	Total    DamageView   `json:"total"`
	// AvoidedRatio is 1 − headroom/static over every project, null when
	// the static shares would have throttled nothing.
	AvoidedRatio *float64 `json:"avoided_ratio"`
}

func (a *API) damage(c *gin.Context) {
	from, to, ok := a.parseSpan(c, 24*time.Hour)
	if !ok {
		return
	}
	ts, err := a.opts.Store.Damage(c.Request.Context(), from, to)
	if err != nil {
		problem(c, http.StatusInternalServerError, "read damage", err.Error())
		return
	}
	out := DamageAnswer{From: from, To: to, Projects: make([]DamageView, 0, len(ts)), Total: DamageView{Project: "(all)", Direction: "(both)"}}
	for _, t := range ts {
		v := DamageView{Project: t.Project, Direction: t.Direction, HeadroomBytes: t.HeadroomBytes, StaticBytes: t.StaticBytes,
			AvoidedBytes: t.StaticBytes - t.HeadroomBytes, Rounds: t.Rounds}
		out.Projects = append(out.Projects, v)
		out.Total.HeadroomBytes += v.HeadroomBytes
		out.Total.StaticBytes += v.StaticBytes
		out.Total.AvoidedBytes += v.AvoidedBytes
		out.Total.Rounds = max(out.Total.Rounds, v.Rounds)
	}
	if out.Total.StaticBytes > 0 {
		r := 1 - out.Total.HeadroomBytes/out.Total.StaticBytes
		out.AvoidedRatio = &r
	}
	c.JSON(http.StatusOK, out)
}
