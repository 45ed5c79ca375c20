package config

import "fmt"

// validateExempt checks every cluster's exempt entities: a name, an entity,
// neither repeated in the cluster, and no entity a project of the cluster
// claims (Headroom would then both plan a quota for it and never throttle
// it).
func (c *Config) validateExempt() Errors {
	var errs Errors
	for i, cl := range c.Clusters {
		claimed := c.projectEntities(cl.Name)
		names := map[string]bool{}
		entities := map[Entity]string{}
		for j, ex := range cl.Exempt {
			p := fmt.Sprintf("clusters[%d].exempt[%d]", i, j)
			switch {
			case ex.Name == "":
				errs = append(errs, FieldError{Path: p + ".name", Msg: "required"})
			case names[ex.Name]:
				errs = append(errs, FieldError{Path: p + ".name", Msg: fmt.Sprintf("duplicate exempt name %q", ex.Name)})
			}
			names[ex.Name] = true
			switch e := ex.Entity; {
			case e.User == "" && e.ClientID == "":
				errs = append(errs, FieldError{Path: p + ".entity", Msg: "a user, a client_id or both are required"})
			case claimed[e] != "":
				errs = append(errs, FieldError{Path: p + ".entity",
					Msg: fmt.Sprintf("quota entity %s is project %q's; a project cannot be exempt", e, claimed[e])})
			case entities[e] != "":
				errs = append(errs, FieldError{Path: p + ".entity",
					Msg: fmt.Sprintf("quota entity %s is already exempt as %q", e, entities[e])})
			default:
				entities[e] = ex.Name
			}
		}
	}
	return errs
}

// projectEntities maps the quota entities of the projects placed on a
// cluster to their project.
func (c *Config) projectEntities(cluster string) map[Entity]string {
	groupCluster := map[string]string{}
	for _, g := range c.ResourceGroups {
		groupCluster[g.Name] = g.Cluster
	}
	out := map[Entity]string{}
	for _, p := range c.Projects {
		gc := groupCluster[p.Group]
		if gc == "" && len(c.Clusters) == 1 {
			gc = c.Clusters[0].Name
		}
		if gc == cluster {
			out[p.Entity] = p.Name
		}
	}
	return out
}
