package api

import (
	"slices"

	"github.com/gin-gonic/gin"
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

// routes is the API's route table, one part per resource; each part lives
// next to its handlers.
func (a *API) routes() []route {
	return slices.Concat(
		a.healthRoutes(),
		a.policyRoutes(),
		a.overrideRoutes(),
		a.ledgerRoutes(),
		a.damageRoutes(),
		a.incidentRoutes(),
		a.whatIfRoutes(),
		a.auditRoutes(),
	)
}
