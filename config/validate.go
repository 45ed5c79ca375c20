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
// each with its YAML path. It expects defaults to be applied.
func (c *Config) Validate() Errors {
	var errs Errors
	add := func(path, format string, args ...any) {
		errs = append(errs, FieldError{Path: path, Msg: fmt.Sprintf(format, args...)})
	}

	ri := time.Duration(c.Global.RoundInterval)
	if ri < time.Second || ri > 5*time.Minute {
		add("global.round_interval", "must be between 1s and 5m, got %s", c.Global.RoundInterval)
	}
	if err := checkHTTPURL(c.Global.ExternalURL); err != nil {
		add("global.external_url", "%v", err)
	}

	// Clusters.
	if len(c.Clusters) == 0 {
		add("clusters", "at least one cluster is required")
	}
	clusters := map[string]bool{}
	for i, cl := range c.Clusters {
		p := fmt.Sprintf("clusters[%d]", i)
		switch {
		case cl.Name == "":
			add(p+".name", "required")
		case clusters[cl.Name]:
			add(p+".name", "duplicate cluster name %q", cl.Name)
		}
		clusters[cl.Name] = true
		if len(cl.BootstrapServers) == 0 {
			add(p+".bootstrap_servers", "at least one host:port is required")
		}
		for j, s := range cl.BootstrapServers {
			if err := checkHostPort(s); err != nil {
				add(fmt.Sprintf("%s.bootstrap_servers[%d]", p, j), "%v", err)
			}
		}
		if cl.RequestTimeout <= 0 {
			add(p+".request_timeout", "must be positive")
		}
		if t := cl.TLS; t != nil && (t.CertFile == "") != (t.KeyFile == "") {
			add(p+".tls", "cert_file and key_file must be set together")
		}
		if s := cl.SASL; s != nil {
			switch s.Mechanism {
			case SASLPlain, SASLScramSHA256, SASLScramSHA512:
			default:
				add(p+".sasl.mechanism", "must be one of %s, %s, %s; got %q", SASLPlain, SASLScramSHA256, SASLScramSHA512, s.Mechanism)
			}
			if s.Username == "" {
				add(p+".sasl.username", "required")
			}
			if (s.Password == "") == (s.PasswordFile == "") {
				add(p+".sasl", "exactly one of password and password_file is required")
			}
		}
	}

	// Resource groups.
	groups := map[string]*GroupConfig{}
	type brokerKey struct {
		cluster string
		id      int32
	}
	brokerOwner := map[brokerKey]string{}
	for i := range c.ResourceGroups {
		g := &c.ResourceGroups[i]
		p := fmt.Sprintf("resource_groups[%d]", i)
		switch {
		case g.Name == "":
			add(p+".name", "required")
		case groups[g.Name] != nil:
			add(p+".name", "duplicate resource group name %q", g.Name)
		default:
			groups[g.Name] = g
		}
		switch {
		case g.Cluster == "" && len(c.Clusters) > 1:
			add(p+".cluster", "required when more than one cluster is configured")
		case g.Cluster != "" && !clusters[g.Cluster]:
			add(p+".cluster", "unknown cluster %q", g.Cluster)
		}
		if len(g.Brokers) == 0 {
			add(p+".brokers", "at least one broker is required")
		}
		for j, b := range g.Brokers {
			bp := fmt.Sprintf("%s.brokers[%d]", p, j)
			if b.ID < 0 {
				add(bp+".id", "must not be negative")
			}
			k := brokerKey{g.Cluster, b.ID}
			if owner, ok := brokerOwner[k]; ok {
				add(bp+".id", "broker %d is already in resource group %q", b.ID, owner)
			} else {
				brokerOwner[k] = g.Name
			}
			if b.MetricsURL != "" || g.Discovery == nil || g.Discovery.Brokers == nil {
				if err := checkHTTPURL(b.MetricsURL); err != nil {
					add(bp+".metrics_url", "%v", err)
				}
			}
			if b.HostMetricsURL != "" {
				if err := checkHTTPURL(b.HostMetricsURL); err != nil {
					add(bp+".host_metrics_url", "%v", err)
				}
			}
		}
		if d := g.Discovery; d != nil {
			for _, sd := range []struct {
				key string
				c   *SDConfig
			}{{"brokers", d.Brokers}, {"hosts", d.Hosts}} {
				if sd.c != nil {
					errs = append(errs, prefixed(p+".discovery."+sd.key, sd.c.Validate(""))...)
				}
			}
		}
		if g.Capacity.Produce <= 0 {
			add(p+".capacity.produce", "required and must be above zero")
		}
		if g.Capacity.Fetch <= 0 {
			add(p+".capacity.fetch", "required and must be above zero")
		}
		if !(g.Margin > 0 && g.Margin <= 1) {
			add(p+".margin", "must be in (0, 1], got %v", g.Margin)
		}
	}

	// Projects.
	projects := map[string]bool{}
	type entityKey struct {
		cluster string
		entity  Entity
	}
	entityOwner := map[entityKey]string{}
	prefixOwner := map[string]string{}
	type sums struct{ produce, fetch float64 }
	shareSum := map[string]*sums{}
	for i, pr := range c.Projects {
		p := fmt.Sprintf("projects[%d]", i)
		switch {
		case pr.Name == "":
			add(p+".name", "required")
		case projects[pr.Name]:
			add(p+".name", "duplicate project name %q", pr.Name)
		}
		projects[pr.Name] = true
		g := groups[pr.Group]
		switch {
		case pr.Group == "":
			add(p+".group", "required")
		case g == nil:
			add(p+".group", "unknown resource group %q", pr.Group)
		}
		if pr.Entity.User == "" && pr.Entity.ClientID == "" {
			add(p+".entity", "a user, a client_id or both are required")
		} else {
			// Quota entities are cluster-wide: two projects anywhere in
			// one cluster cannot share one.
			cluster := ""
			switch {
			case g != nil:
				cluster = g.Cluster
			case len(c.Clusters) == 1:
				cluster = c.Clusters[0].Name
			}
			k := entityKey{cluster, pr.Entity}
			if owner, ok := entityOwner[k]; ok {
				add(p+".entity", "quota entity %s is already claimed by project %q", pr.Entity, owner)
			} else {
				entityOwner[k] = pr.Name
			}
		}
		if len(pr.Topics.Prefixes) == 0 && len(pr.Topics.Regexes) == 0 {
			add(p+".topics", "at least one prefix or regex is required")
		}
		for j, pre := range pr.Topics.Prefixes {
			tp := fmt.Sprintf("%s.topics.prefixes[%d]", p, j)
			if pre == "" {
				add(tp, "must not be empty")
				continue
			}
			if owner, ok := prefixOwner[pre]; ok && owner != pr.Name {
				add(tp, "topic prefix %q is already owned by project %q", pre, owner)
			} else {
				prefixOwner[pre] = pr.Name
			}
		}
		switch pr.Tier {
		case "", TierCritical, TierStandard, TierBestEffort:
		default:
			add(p+".tier", "must be %s, %s or %s, got %q", TierCritical, TierStandard, TierBestEffort, pr.Tier)
		}
		for j, re := range pr.Topics.Regexes {
			if _, err := regexp.Compile("^(?:" + re + ")$"); err != nil {
				add(fmt.Sprintf("%s.topics.regexes[%d]", p, j), "invalid regex: %v", err)
			}
		}
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
				add(dp+".share", "required and must be above zero")
			}
			if q.Floor > q.Share {
				add(dp, "floor %s exceeds share %s (need floor <= share <= ceiling)", q.Floor, q.Share)
			}
			if q.Ceiling > 0 && q.Share > q.Ceiling {
				add(dp, "share %s exceeds ceiling %s (need floor <= share <= ceiling)", q.Share, q.Ceiling)
			}
			if !(q.Weight > 0) || math.IsInf(q.Weight, 0) {
				add(dp+".weight", "must be above zero and finite, got %v", q.Weight)
			}
			if g != nil {
				if safe := float64(d.cap(g)) * g.Margin; float64(q.Ceiling) > safe+1e-9 {
					add(dp+".ceiling", "ceiling %s exceeds the group's safe capacity %s (margin × capacity)", q.Ceiling, Rate(safe))
				}
				s := shareSum[g.Name]
				if s == nil {
					s = &sums{}
					shareSum[g.Name] = s
				}
				if d.name == "produce" {
					s.produce += float64(q.Share)
				} else {
					s.fetch += float64(q.Share)
				}
			}
		}
	}
	for i, g := range c.ResourceGroups {
		s := shareSum[g.Name]
		if s == nil || groups[g.Name] != &c.ResourceGroups[i] {
			continue
		}
		p := fmt.Sprintf("resource_groups[%d]", i)
		if safe := float64(g.Capacity.Produce) * g.Margin; g.Capacity.Produce > 0 && s.produce > safe+1e-9 {
			add(p+".capacity.produce", "projects' produce shares sum to %s, above margin × capacity %s", Rate(s.produce), Rate(safe))
		}
		if safe := float64(g.Capacity.Fetch) * g.Margin; g.Capacity.Fetch > 0 && s.fetch > safe+1e-9 {
			add(p+".capacity.fetch", "projects' fetch shares sum to %s, above margin × capacity %s", Rate(s.fetch), Rate(safe))
		}
	}

	errs = append(errs, prefixed("collector", c.Collector.Validate())...)
	errs = append(errs, prefixed("detector", c.Detector.Validate())...)
	errs = append(errs, prefixed("limiter", c.Limiter.Validate())...)
	errs = append(errs, prefixed("alerting", c.Alerting.Validate())...)
	errs = append(errs, prefixed("api", c.API.Validate())...)
	errs = append(errs, prefixed("store", c.Store.Validate())...)
	if c.HA != nil {
		errs = append(errs, prefixed("ha", c.HA.validate(c.Clusters))...)
	}
	return errs
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
