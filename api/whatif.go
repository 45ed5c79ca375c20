package api

// What-if: a proposed override replayed over recorded demand.

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/headroomhq/headroom/api/wire"
	"github.com/headroomhq/headroom/config"
	"github.com/headroomhq/headroom/limiter/overrides"
	"github.com/headroomhq/headroom/whatif"
)

// whatIfRoutes replay a proposal; reading, so viewers may.
func (a *API) whatIfRoutes() []route {
	v := config.RoleViewer
	return []route{
		{method: "POST", path: "/api/v1/whatif", role: v, summary: "Replay recent recorded demand with a proposed override, next to the policy in force", body: "WhatIf", ok: 200, handler: a.whatIf},
	}
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
