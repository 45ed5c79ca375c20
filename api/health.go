package api

// The API itself: its health and its OpenAPI document.

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// healthRoutes are public: a probe and a client need no token.
func (a *API) healthRoutes() []route {
	return []route{
		{method: "GET", path: "/api/v1/health", summary: "Health of the API and its store", ok: 200, handler: a.health},
		{method: "GET", path: "/api/v1/openapi.json", summary: "This document", ok: 200, handler: a.openapi},
	}
}

func (a *API) health(c *gin.Context) {
	if err := a.opts.Store.SQL().PingContext(c.Request.Context()); err != nil {
		problem(c, http.StatusServiceUnavailable, "store unavailable", err.Error())
		return
	}
	c.JSON(http.StatusOK, gin.H{"status": "ok"})
}
