package api

// The audit trail of mutations.

import (
	"net/http"

	"github.com/gin-gonic/gin"

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
	limit, ok := parseLimit(c, 100)
	if !ok {
		return
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
