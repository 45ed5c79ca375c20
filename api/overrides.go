package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/headroomhq/headroom/config"
	"github.com/headroomhq/headroom/limiter/overrides"
	"github.com/headroomhq/headroom/store"
)

// The override routes: HTTP over the override service (validation,
// versions, audit and replanning live there). ETags are the version.

// effective returns the configuration with overrides in force.
func (a *API) effective(c *gin.Context) (overrides.Effective, bool) {
	eff, _, err := a.overrides.Effective(c.Request.Context())
	if err != nil {
		problem(c, http.StatusInternalServerError, "read overrides", err.Error())
		return overrides.Effective{}, false
	}
	return eff, true
}

func overrideView(o store.Override) OverrideView {
	var spec overrides.Spec
	_ = json.Unmarshal(o.Spec, &spec) // written by the override service from a valid Spec
	b, _ := json.Marshal(spec)
	return OverrideView{Kind: o.Kind, Name: o.Name, Spec: b, Version: o.Version, UpdatedBy: o.UpdatedBy, UpdatedAt: o.UpdatedAt}
}

func etag(version int) string { return fmt.Sprintf(`"v%d"`, version) }

func parseETag(s string) (int, bool) {
	s = strings.TrimPrefix(strings.TrimSpace(s), "W/")
	s = strings.Trim(s, `"`)
	n, err := strconv.Atoi(strings.TrimPrefix(s, "v"))
	return n, err == nil && strings.HasPrefix(s, "v") && n > 0
}

func (a *API) listOverrides(c *gin.Context) {
	ovs, err := a.overrides.InForce(c.Request.Context())
	if err != nil {
		problem(c, http.StatusInternalServerError, "read overrides", err.Error())
		return
	}
	answerList(c, ovs, overrideView)
}

func (a *API) getOverride(c *gin.Context) {
	o, err := a.overrides.Get(c.Request.Context(), c.Param("kind"), c.Param("name"))
	if errors.Is(err, overrides.ErrNotFound) {
		problem(c, http.StatusNotFound, "no such override", c.Param("kind")+"/"+c.Param("name"))
		return
	}
	if err != nil {
		problem(c, http.StatusInternalServerError, "read override", err.Error())
		return
	}
	c.Header("ETag", etag(o.Version))
	c.JSON(http.StatusOK, overrideView(o))
}

// ifMatch reads the If-Match header as a version: 0 when absent, -1 when
// it is not an ETag of this API.
func ifMatch(c *gin.Context) int {
	im := c.GetHeader("If-Match")
	if im == "" {
		return 0
	}
	if v, ok := parseETag(im); ok {
		return v
	}
	return -1
}

func (a *API) putOverride(c *gin.Context) {
	kind, name := c.Param("kind"), c.Param("name")
	var spec overrides.Spec
	if !decodeJSON(c, &spec) {
		return
	}
	o, err := a.overrides.Put(c.Request.Context(), overrides.Change{Kind: kind, Name: name, Spec: spec,
		Actor: principal(c).Actor(), Version: ifMatch(c)})
	var oe *overrides.Error
	errors.As(err, &oe)
	switch {
	case err == nil:
		c.Header("ETag", etag(o.Version))
		c.JSON(http.StatusOK, overrideView(o))
	case errors.Is(err, overrides.ErrUnknownTarget):
		problem(c, http.StatusNotFound, "invalid override", "", fieldErrors(oe.Fields, "")...)
	case errors.Is(err, overrides.ErrInvalid):
		problem(c, http.StatusUnprocessableEntity, "invalid override", "", fieldErrors(oe.Fields, "")...)
	case errors.Is(err, overrides.ErrVersionRequired):
		problem(c, http.StatusPreconditionRequired, "If-Match required", "the override exists; send If-Match with its ETag "+etag(oe.Current.Version))
	case errors.Is(err, overrides.ErrMalformedVersion):
		problem(c, http.StatusBadRequest, "bad If-Match", "want an ETag such as "+etag(oe.Current.Version))
	case errors.Is(err, overrides.ErrNotFound):
		problem(c, http.StatusPreconditionFailed, "precondition failed", "the override does not exist")
	case errors.Is(err, overrides.ErrConflict):
		problem(c, http.StatusPreconditionFailed, "precondition failed", "the override changed since it was read")
	default:
		problem(c, http.StatusInternalServerError, "store override", err.Error())
	}
}

func (a *API) deleteOverride(c *gin.Context) {
	kind, name := c.Param("kind"), c.Param("name")
	v := ifMatch(c)
	if v <= 0 {
		problem(c, http.StatusPreconditionRequired, "If-Match required", "send If-Match with the override's ETag")
		return
	}
	err := a.overrides.Delete(c.Request.Context(), overrides.Change{Kind: kind, Name: name, Actor: principal(c).Actor(), Version: v})
	switch {
	case err == nil:
		c.Status(http.StatusNoContent)
	case errors.Is(err, overrides.ErrNotFound):
		problem(c, http.StatusNotFound, "no such override", kind+"/"+name)
	case errors.Is(err, overrides.ErrConflict):
		problem(c, http.StatusPreconditionFailed, "precondition failed", "the override changed since it was read")
	default:
		problem(c, http.StatusInternalServerError, "delete override", err.Error())
	}
}

// overrideRoutes read overrides and write them through the override service.
func (a *API) overrideRoutes() []route {
	v := config.RoleViewer
	op := config.RoleOperator
	return []route{
		{method: "GET", path: "/api/v1/overrides", role: v, summary: "Overrides in force", ok: 200, handler: a.listOverrides},
		{method: "GET", path: "/api/v1/overrides/:kind/:name", role: v, summary: "One override, with its ETag", ok: 200, handler: a.getOverride},
		{method: "PUT", path: "/api/v1/overrides/:kind/:name", role: op, summary: "Create or replace an override (If-Match to replace)", body: "OverrideSpec", ok: 200, handler: a.putOverride},
		{method: "DELETE", path: "/api/v1/overrides/:kind/:name", role: op, summary: "Remove an override (If-Match required)", ok: 204, handler: a.deleteOverride},
	}
}
