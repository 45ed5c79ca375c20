package api

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/headroomhq/headroom/config"
)

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

// damageRoutes read the damage ledger.
func (a *API) damageRoutes() []route {
	v := config.RoleViewer
	return []route{
		{method: "GET", path: "/api/v1/damage", role: v, summary: "The damage ledger: bytes throttled under Headroom's quotas next to what the static shares would have throttled", query: []string{"from", "to"}, resp: "Damage", ok: 200, handler: a.damage},
	}
}
