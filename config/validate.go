package config

import (
	"fmt"
	"math"
	"net"
	"net/url"
	"regexp"
	"time"
)

// Validate checks the whole configuration and returns every problem found,
// each with its YAML path. It expects defaults to be applied. Sections are
// checked in file order; the later ones (groups, projects) use what the
// earlier ones found (the clusters' and the groups' names).
func (c *Config) Validate() Errors {
	v := &validation{c: c}
	v.global()
	v.clusters()
	v.groups()
	v.projects()
	v.groupShares()
	v.exempt()
	v.components()
	return v.errs
}

// validation is one run of Validate: the problems found so far and the
// names each section leaves for the ones after it.
type validation struct {
	c    *Config
	errs Errors

	clusterNames map[string]bool
	groupByName  map[string]*GroupConfig
	brokerOwner  map[brokerKey]string // resource group by broker
	projectNames map[string]bool
	entityOwner  map[entityKey]string // project by quota entity
	prefixOwner  map[string]string    // project by topic prefix
	shareSum     map[string]*shareSums
}

type brokerKey struct {
	cluster string
	id      int32
}

type entityKey struct {
	cluster string
	entity  Entity
}

// shareSums are the shares of a group's projects, per direction.
type shareSums struct{ produce, fetch float64 }

func (v *validation) add(path, format string, args ...any) {
	v.errs = append(v.errs, FieldError{Path: path, Msg: fmt.Sprintf(format, args...)})
}

// unique checks, at path, a name that is required and must not repeat.
func (v *validation) unique(path, name string, seen map[string]bool, duplicate string) {
	if fe, bad := uniqueName(path, name, seen, duplicate); bad {
		v.errs = append(v.errs, fe)
	}
}

func (v *validation) global() {
	g := v.c.Global
	ri := time.Duration(g.RoundInterval)
	if ri < time.Second || ri > 5*time.Minute {
		v.add("global.round_interval", "must be between 1s and 5m, got %s", g.RoundInterval)
	}
	if err := checkHTTPURL(g.ExternalURL); err != nil {
		v.add("global.external_url", "%v", err)
	}
}

func (v *validation) clusters() {
	if len(v.c.Clusters) == 0 {
		v.add("clusters", "at least one cluster is required")
	}
	v.clusterNames = map[string]bool{}
	for i, cl := range v.c.Clusters {
		p := fmt.Sprintf("clusters[%d]", i)
		v.unique(p+".name", cl.Name, v.clusterNames, "duplicate cluster name %q")
		if len(cl.BootstrapServers) == 0 {
			v.add(p+".bootstrap_servers", "at least one host:port is required")
		}
		for j, s := range cl.BootstrapServers {
			if err := checkHostPort(s); err != nil {
				v.add(fmt.Sprintf("%s.bootstrap_servers[%d]", p, j), "%v", err)
			}
		}
		if cl.RequestTimeout <= 0 {
			v.add(p+".request_timeout", "must be positive")
		}
		if t := cl.TLS; t != nil && (t.CertFile == "") != (t.KeyFile == "") {
			v.add(p+".tls", "cert_file and key_file must be set together")
		}
		if s := cl.SASL; s != nil {
			v.sasl(p+".sasl", s)
		}
	}
}

func (v *validation) sasl(p string, s *SASLConfig) {
	switch s.Mechanism {
	case SASLPlain, SASLScramSHA256, SASLScramSHA512:
	default:
		v.add(p+".mechanism", "must be one of %s, %s, %s; got %q", SASLPlain, SASLScramSHA256, SASLScramSHA512, s.Mechanism)
	}
	if s.Username == "" {
		v.add(p+".username", "required")
	}
	if (s.Password == "") == (s.PasswordFile == "") {
		v.add(p, "exactly one of password and password_file is required")
	}
}

func (v *validation) groups() {
	v.groupByName = map[string]*GroupConfig{}
	v.brokerOwner = map[brokerKey]string{}
	for i := range v.c.ResourceGroups {
		g := &v.c.ResourceGroups[i]
		p := fmt.Sprintf("resource_groups[%d]", i)
		switch {
		case g.Name == "":
			v.add(p+".name", "required")
		case v.groupByName[g.Name] != nil:
			v.add(p+".name", "duplicate resource group name %q", g.Name)
		default:
			v.groupByName[g.Name] = g
		}
		switch {
		case g.Cluster == "" && len(v.c.Clusters) > 1:
			v.add(p+".cluster", "required when more than one cluster is configured")
		case g.Cluster != "" && !v.clusterNames[g.Cluster]:
			v.add(p+".cluster", "unknown cluster %q", g.Cluster)
		}
		v.brokers(p, g)
		if d := g.Discovery; d != nil {
			for _, sd := range []struct {
				key string
				c   *SDConfig
			}{{"brokers", d.Brokers}, {"hosts", d.Hosts}} {
				if sd.c != nil {
					v.errs = append(v.errs, prefixed(p+".discovery."+sd.key, sd.c.Validate(""))...)
				}
			}
		}
		if g.Capacity.Produce <= 0 {
			v.add(p+".capacity.produce", "required and must be above zero")
		}
		if g.Capacity.Fetch <= 0 {
			v.add(p+".capacity.fetch", "required and must be above zero")
		}
		if !(g.Margin > 0 && g.Margin <= 1) {
			v.add(p+".margin", "must be in (0, 1], got %v", g.Margin)
		}
	}
}

// brokers checks the brokers of group g, at path p. A broker belongs to
// one group of its cluster.
func (v *validation) brokers(p string, g *GroupConfig) {
	if len(g.Brokers) == 0 {
		v.add(p+".brokers", "at least one broker is required")
	}
	for j, b := range g.Brokers {
		bp := fmt.Sprintf("%s.brokers[%d]", p, j)
		if b.ID < 0 {
			v.add(bp+".id", "must not be negative")
		}
		k := brokerKey{g.Cluster, b.ID}
		if owner, ok := v.brokerOwner[k]; ok {
			v.add(bp+".id", "broker %d is already in resource group %q", b.ID, owner)
		} else {
			v.brokerOwner[k] = g.Name
		}
		if b.MetricsURL != "" || g.Discovery == nil || g.Discovery.Brokers == nil {
			if err := checkHTTPURL(b.MetricsURL); err != nil {
				v.add(bp+".metrics_url", "%v", err)
			}
		}
		if b.HostMetricsURL != "" {
			if err := checkHTTPURL(b.HostMetricsURL); err != nil {
				v.add(bp+".host_metrics_url", "%v", err)
			}
		}
	}
}

func (v *validation) projects() {
	v.projectNames = map[string]bool{}
	v.entityOwner = map[entityKey]string{}
	v.prefixOwner = map[string]string{}
	v.shareSum = map[string]*shareSums{}
	for i, pr := range v.c.Projects {
		p := fmt.Sprintf("projects[%d]", i)
		v.unique(p+".name", pr.Name, v.projectNames, "duplicate project name %q")
		g := v.groupByName[pr.Group]
		switch {
		case pr.Group == "":
			v.add(p+".group", "required")
		case g == nil:
			v.add(p+".group", "unknown resource group %q", pr.Group)
		}
		v.entity(p, pr, g)
		v.topics(p, pr)
		v.quotas(p, pr, g)
	}
}

// entity checks project pr's quota entity, at path p. Quota entities are
// cluster-wide: two projects anywhere in one cluster cannot share one.
func (v *validation) entity(p string, pr ProjectConfig, g *GroupConfig) {
	if pr.Entity.User == "" && pr.Entity.ClientID == "" {
		v.add(p+".entity", "a user, a client_id or both are required")
		return
	}
	cluster := ""
	switch {
	case g != nil:
		cluster = g.Cluster
	case len(v.c.Clusters) == 1:
		cluster = v.c.Clusters[0].Name
	}
	k := entityKey{cluster, pr.Entity}
	if owner, ok := v.entityOwner[k]; ok {
		v.add(p+".entity", "quota entity %s is already claimed by project %q", pr.Entity, owner)
	} else {
		v.entityOwner[k] = pr.Name
	}
}

// topics checks project pr's topics and, between its prefixes and its
// regexes, its tier (the order in which they have always been reported).
func (v *validation) topics(p string, pr ProjectConfig) {
	if len(pr.Topics.Prefixes) == 0 && len(pr.Topics.Regexes) == 0 {
		v.add(p+".topics", "at least one prefix or regex is required")
	}
	for j, pre := range pr.Topics.Prefixes {
		tp := fmt.Sprintf("%s.topics.prefixes[%d]", p, j)
		if pre == "" {
			v.add(tp, "must not be empty")
			continue
		}
		if owner, ok := v.prefixOwner[pre]; ok && owner != pr.Name {
			v.add(tp, "topic prefix %q is already owned by project %q", pre, owner)
		} else {
			v.prefixOwner[pre] = pr.Name
		}
	}
	switch pr.Tier {
	case "", TierCritical, TierStandard, TierBestEffort:
	default:
		v.add(p+".tier", "must be %s, %s or %s, got %q", TierCritical, TierStandard, TierBestEffort, pr.Tier)
	}
	for j, re := range pr.Topics.Regexes {
		if _, err := regexp.Compile("^(?:" + re + ")$"); err != nil {
			v.add(fmt.Sprintf("%s.topics.regexes[%d]", p, j), "invalid regex: %v", err)
		}
	}
}

// quotas checks project pr's produce and fetch quotas against each other
// and against its group g (nil if unknown), and adds its shares to the
// group's sums.
func (v *validation) quotas(p string, pr ProjectConfig, g *GroupConfig) {
	for _, d := range []struct {
		name string
		q    QuotaConfig
		cap  func(*GroupConfig) Rate
	}{
		{"produce", pr.Produce, func(g *GroupConfig) Rate { return g.Capacity.Produce }},
		{"fetch", pr.Fetch, func(g *GroupConfig) Rate { return g.Capacity.Fetch }},
	} {
		dp := p + "." + d.name
		q := d.q
		if q.Share <= 0 {
			v.add(dp+".share", "required and must be above zero")
		}
		if q.Floor > q.Share {
			v.add(dp, "floor %s exceeds share %s (need floor <= share <= ceiling)", q.Floor, q.Share)
		}
		if q.Ceiling > 0 && q.Share > q.Ceiling {
			v.add(dp, "share %s exceeds ceiling %s (need floor <= share <= ceiling)", q.Share, q.Ceiling)
		}
		if !(q.Weight > 0) || math.IsInf(q.Weight, 0) {
			v.add(dp+".weight", "must be above zero and finite, got %v", q.Weight)
		}
		if g == nil {
			continue
		}
		if safe := float64(d.cap(g)) * g.Margin; float64(q.Ceiling) > safe+1e-9 {
			v.add(dp+".ceiling", "ceiling %s exceeds the group's safe capacity %s (margin × capacity)", q.Ceiling, Rate(safe))
		}
		s := v.shareSum[g.Name]
		if s == nil {
			s = &shareSums{}
			v.shareSum[g.Name] = s
		}
		if d.name == "produce" {
			s.produce += float64(q.Share)
		} else {
			s.fetch += float64(q.Share)
		}
	}
}

// groupShares checks that the shares of each group's projects fit in the
// group's safe capacity.
func (v *validation) groupShares() {
	for i, g := range v.c.ResourceGroups {
		s := v.shareSum[g.Name]
		if s == nil || v.groupByName[g.Name] != &v.c.ResourceGroups[i] {
			continue
		}
		p := fmt.Sprintf("resource_groups[%d]", i)
		if safe := float64(g.Capacity.Produce) * g.Margin; g.Capacity.Produce > 0 && s.produce > safe+1e-9 {
			v.add(p+".capacity.produce", "projects' produce shares sum to %s, above margin × capacity %s", Rate(s.produce), Rate(safe))
		}
		if safe := float64(g.Capacity.Fetch) * g.Margin; g.Capacity.Fetch > 0 && s.fetch > safe+1e-9 {
			v.add(p+".capacity.fetch", "projects' fetch shares sum to %s, above margin × capacity %s", Rate(s.fetch), Rate(safe))
		}
	}
}

// components checks the component sections, each through its own Validate.
func (v *validation) components() {
	c := v.c
	v.errs = append(v.errs, prefixed("collector", c.Collector.Validate())...)
	v.errs = append(v.errs, prefixed("detector", c.Detector.Validate())...)
	v.errs = append(v.errs, prefixed("limiter", c.Limiter.Validate())...)
	v.errs = append(v.errs, prefixed("alerting", c.Alerting.Validate())...)
	v.errs = append(v.errs, prefixed("api", c.API.Validate())...)
	v.errs = append(v.errs, prefixed("store", c.Store.Validate())...)
	if c.HA != nil {
		v.errs = append(v.errs, prefixed("ha", c.HA.validate(c.Clusters))...)
	}
}

// prefixed turns a section's errors into FieldErrors under its key. A
// section reports errors whose text starts with the field, "field: message".
func prefixed(section string, errs []error) Errors {
	out := make(Errors, 0, len(errs))
	for _, e := range errs {
		var fe FieldError
		if asFieldError(e, &fe) {
			fe.Path = joinPath(section, fe.Path)
			out = append(out, fe)
			continue
		}
		out = append(out, FieldError{Path: section, Msg: e.Error()})
	}
	return out
}

func asFieldError(err error, fe *FieldError) bool {
	f, ok := err.(FieldError)
	if ok {
		*fe = f
	}
	return ok
}

// uniqueName checks, at path, a name that is required and must not repeat:
// seen holds the names before it and gets this one; duplicate is the
// message's format, given the name. bad reports a problem.
func uniqueName(path, name string, seen map[string]bool, duplicate string) (fe FieldError, bad bool) {
	defer func() { seen[name] = true }()
	switch {
	case name == "":
		return FieldError{Path: path, Msg: "required"}, true
	case seen[name]:
		return FieldError{Path: path, Msg: fmt.Sprintf(duplicate, name)}, true
	}
	return FieldError{}, false
}

// fieldErr builds the error a section's Validate returns for one field.
func fieldErr(path, format string, args ...any) error {
	return FieldError{Path: path, Msg: fmt.Sprintf(format, args...)}
}

func checkHTTPURL(s string) error {
	if s == "" {
		return fmt.Errorf("required")
	}
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("invalid URL %q: %v", s, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("invalid URL %q: scheme must be http or https", s)
	}
	if u.Host == "" {
		return fmt.Errorf("invalid URL %q: missing host", s)
	}
	return nil
}

func checkHostPort(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("invalid address %q: want host:port", s)
	}
	if host == "" {
		return fmt.Errorf("invalid address %q: missing host", s)
	}
	var n int
	if _, err := fmt.Sscanf(port, "%d", &n); err != nil || n <= 0 || n > 65535 {
		return fmt.Errorf("invalid address %q: bad port", s)
	}
	return nil
}
