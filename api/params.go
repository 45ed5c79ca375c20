package api

// Query parameters the read routes share: times, spans, directions,
// projects and limits, each answered with a problem naming the parameter.

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/headroomhq/headroom/api/wire"
)

func parseTimeParam(c *gin.Context, name string, def time.Time) (time.Time, bool) {
	s := c.Query(name)
	if s == "" {
		return def, true
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		problem(c, http.StatusBadRequest, "invalid query parameter", "", wire.ProblemField{Path: name, Message: "want RFC 3339, e.g. 2026-11-23T03:00:00Z"})
		return time.Time{}, false
	}
	return t, true
}

// parseSpan reads the from and to query parameters (RFC 3339; default the
// last span up to now) and answers 400 when from is after to.
func (a *API) parseSpan(c *gin.Context, span time.Duration) (from, to time.Time, ok bool) {
	now := a.opts.Now()
	if from, ok = parseTimeParam(c, "from", now.Add(-span)); !ok {
		return
	}
	if to, ok = parseTimeParam(c, "to", now); !ok {
		return
	}
	if from.After(to) {
		problem(c, http.StatusBadRequest, "invalid query parameter", "", wire.ProblemField{Path: "from", Message: "after to"})
		return from, to, false
	}
	return from, to, true
}

func checkDirection(c *gin.Context, optional bool) (string, bool) {
	d := c.Query("direction")
	if (d == "" && optional) || d == "produce" || d == "fetch" {
		return d, true
	}
	problem(c, http.StatusBadRequest, "invalid query parameter", "", wire.ProblemField{Path: "direction", Message: "want produce or fetch"})
	return "", false
}

func (a *API) requireProject(c *gin.Context) (string, bool) {
	p := c.Query("project")
	for _, pc := range a.opts.Config().Projects {
		if pc.Name == p {
			return p, true
		}
	}
	problem(c, http.StatusBadRequest, "invalid query parameter", "", wire.ProblemField{Path: "project", Message: fmt.Sprintf("unknown project %q", p)})
	return "", false
}

// parseLimit reads the limit parameter: 1 to 10000, def when absent.
func parseLimit(c *gin.Context, def int) (int, bool) {
	s := c.Query("limit")
	if s == "" {
		return def, true
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 10000 {
		problem(c, http.StatusBadRequest, "invalid query parameter", "", wire.ProblemField{Path: "limit", Message: "want 1 to 10000"})
		return 0, false
	}
	return n, true
}

// finite is v, or nil for NaN and infinities, which JSON cannot carry.
func finite(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}
