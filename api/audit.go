package api

// The audit trail of mutations.

import (
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/headroomhq/headroom/api/wire"
	"github.com/headroomhq/headroom/config"
	"github.com/headroomhq/headroom/store"
)

// auditRoutes are for admins only.
func (a *API) auditRoutes() []route {
	return []route{
		{method: "GET", path: "/api/v1/audit", role: config.RoleAdmin, summary: "The audit trail of mutations", query: []string{"limit"}, ok: 200, handler: a.audit},
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
