package api

// The policy in force: resource groups and projects with overrides
// applied, and the quotas planned next to what the clusters hold.

import (
	"errors"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/headroomhq/headroom/config"
	"github.com/headroomhq/headroom/limiter/overrides"
	"github.com/headroomhq/headroom/store"
)

// policyRoutes read the policy in force.
func (a *API) policyRoutes() []route {
	v := config.RoleViewer
	return []route{
		{method: "GET", path: "/api/v1/groups", role: v, summary: "Resource groups with overrides applied", ok: 200, handler: a.withEffective(listGroups)},
		{method: "GET", path: "/api/v1/groups/:name", role: v, summary: "One resource group", ok: 200, handler: a.withEffective(getGroup)},
		{method: "GET", path: "/api/v1/projects", role: v, summary: "Projects with overrides applied", ok: 200, handler: a.withEffective(listProjects)},
		{method: "GET", path: "/api/v1/projects/:name", role: v, summary: "One project", ok: 200, handler: a.withEffective(getProject)},
		{method: "GET", path: "/api/v1/quotas", role: v, summary: "Effective quotas: the plan next to what the cluster holds", ok: 200, handler: a.quotas},
	}
}

// withEffective reads the policy in force (configuration with overrides
// applied) before h answers, and answers the problem itself when it cannot.
func (a *API) withEffective(h func(*gin.Context, overrides.Effective)) gin.HandlerFunc {
	return func(c *gin.Context) {
		if eff, ok := a.effective(c); ok {
			h(c, eff)
		}
	}
}

func groupView(eff overrides.Effective, g config.GroupConfig) GroupView {
	v := GroupView{Name: g.Name, Cluster: g.Cluster, Margin: g.Margin, Frozen: eff.Frozen[g.Name],
		Capacity: RatesView{Produce: float64(g.Capacity.Produce), Fetch: float64(g.Capacity.Fetch)}, Brokers: []int32{}, Projects: []string{}}
	for _, b := range g.Brokers {
		v.Brokers = append(v.Brokers, b.ID)
	}
	for _, p := range eff.Config.Projects {
		if p.Group == g.Name {
			v.Projects = append(v.Projects, p.Name)
		}
	}
	return v
}

func listGroups(c *gin.Context, eff overrides.Effective) {
	answerList(c, eff.Config.ResourceGroups, func(g config.GroupConfig) GroupView { return groupView(eff, g) })
}

func getGroup(c *gin.Context, eff overrides.Effective) {
	g, found := eff.Config.Group(c.Param("name"))
	if !found {
		problem(c, http.StatusNotFound, "unknown resource group", c.Param("name"))
		return
	}
	c.JSON(http.StatusOK, groupView(eff, *g))
}

func projectView(eff overrides.Effective, p config.ProjectConfig) ProjectView {
	q := func(dir string, c config.QuotaConfig) QuotaView {
		v := QuotaView{Share: float64(c.Share), Floor: float64(c.Floor), Ceiling: float64(c.Ceiling), Weight: c.Weight}
		if pin, ok := eff.Pins[p.Name][dir]; ok {
			v.Pin = &pin
		}
		return v
	}
	return ProjectView{Name: p.Name, Group: p.Group, Entity: p.Entity.String(), Produce: q("produce", p.Produce), Fetch: q("fetch", p.Fetch)}
}

func listProjects(c *gin.Context, eff overrides.Effective) {
	answerList(c, eff.Config.Projects, func(p config.ProjectConfig) ProjectView { return projectView(eff, p) })
}

func getProject(c *gin.Context, eff overrides.Effective) {
	for _, p := range eff.Config.Projects {
		if p.Name == c.Param("name") {
			c.JSON(http.StatusOK, projectView(eff, p))
			return
		}
	}
	problem(c, http.StatusNotFound, "unknown project", c.Param("name"))
}

func (a *API) quotas(c *gin.Context) {
	ctx := c.Request.Context()
	cfg := a.opts.Config()
	held := map[string]map[string]EntityQuota{}
	if a.opts.Quotas != nil {
		for _, cl := range cfg.Clusters {
			q, err := a.opts.Quotas.ClusterQuotas(ctx, cl.Name)
			if err != nil {
				problem(c, http.StatusBadGateway, "read quotas from cluster "+cl.Name, err.Error())
				return
			}
			held[cl.Name] = q
		}
	}
	out := []QuotaState{}
	now := a.opts.Now()
	for _, p := range cfg.Projects {
		g, _ := cfg.Group(p.Group)
		for _, d := range []struct {
			dir   string
			share config.Rate
		}{{"produce", p.Produce.Share}, {"fetch", p.Fetch.Share}} {
			qs := QuotaState{Project: p.Name, Entity: p.Entity.String(), Direction: d.dir, Share: float64(d.share)}
			e, err := a.opts.Store.DecisionAt(ctx, p.Name, d.dir, now)
			switch {
			case err == nil:
				after := e.After
				qs.Planned, qs.PlannedAt, qs.Outcome = &after, e.At.UTC().Format(time.RFC3339), e.Outcome
			case !errors.Is(err, store.ErrNotFound):
				problem(c, http.StatusInternalServerError, "read ledger", err.Error())
				return
			}
			if eq, ok := held[g.Cluster][p.Entity.String()]; ok {
				if d.dir == "produce" {
					qs.Cluster = eq.Produce
				} else {
					qs.Cluster = eq.Fetch
				}
			}
			out = append(out, qs)
		}
	}
	c.JSON(http.StatusOK, out)
}
