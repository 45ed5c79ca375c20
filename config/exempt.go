package config

import "fmt"

// exempt checks every cluster's exempt entities: a name, an entity,
// neither repeated in the cluster, and no entity a project of the cluster
// claims (Headroom would then both plan a quota for it and never throttle
// it). It runs after projects, whose entities it reads.
func (v *validation) exempt() {
	for i, cl := range v.c.Clusters {
		names := map[string]bool{}
		entities := map[Entity]string{}
		for j, ex := range cl.Exempt {
			p := fmt.Sprintf("clusters[%d].exempt[%d]", i, j)
			v.unique(p+".name", ex.Name, names, "duplicate exempt name %q")
			e := ex.Entity
			switch owner := v.entityOwner[entityKey{cl.Name, e}]; {
			case e.User == "" && e.ClientID == "":
				v.add(p+".entity", "a user, a client_id or both are required")
			case owner != "":
				v.add(p+".entity", "quota entity %s is project %q's; a project cannot be exempt", e, owner)
			case entities[e] != "":
				v.add(p+".entity", "quota entity %s is already exempt as %q", e, entities[e])
			default:
				entities[e] = ex.Name
			}
		}
	}
}
