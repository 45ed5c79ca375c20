package collector

import (
	"fmt"
	"regexp"
	"strings"
	"sync"

	"github.com/headroomhq/headroom/config"
)

// Ownership maps topics and client-quota entities to configured projects.
// It is safe for concurrent use.
type Ownership struct {
	projects []ownedProject
	mu       sync.Mutex
	topics   map[string]string // cache: topic → project ("" = unowned)
	// exempt holds each cluster's exempt entities.
	exempt map[string][]config.ExemptConfig
}

type ownedProject struct {
	name     string
	entity   config.Entity
	prefixes []string
	regexes  []*regexp.Regexp
}

// NewOwnership compiles the projects' topic rules. Regexes are fully
// anchored, as the configuration documents.
func NewOwnership(projects []config.ProjectConfig) (*Ownership, error) {
	o := &Ownership{topics: map[string]string{}}
	for i, p := range projects {
		op := ownedProject{name: p.Name, entity: p.Entity, prefixes: p.Topics.Prefixes}
		for j, re := range p.Topics.Regexes {
			c, err := regexp.Compile("^(?:" + re + ")$")
			if err != nil {
				return nil, fmt.Errorf("projects[%d].topics.regexes[%d]: %w", i, j, err)
			}
			op.regexes = append(op.regexes, c)
		}
		o.projects = append(o.projects, op)
	}
	return o, nil
}

// Projects lists the project names in configuration order.
func (o *Ownership) Projects() []string {
	out := make([]string, len(o.projects))
	for i, p := range o.projects {
		out[i] = p.name
	}
	return out
}

// TopicOwner returns the project owning topic, or "". The first project in
// configuration order whose prefix or regex matches wins.
func (o *Ownership) TopicOwner(topic string) string {
	o.mu.Lock()
	defer o.mu.Unlock()
	if p, ok := o.topics[topic]; ok {
		return p
	}
	owner := ""
outer:
	for _, p := range o.projects {
		for _, pre := range p.prefixes {
			if strings.HasPrefix(topic, pre) {
				owner = p.name
				break outer
			}
		}
		for _, re := range p.regexes {
			if re.MatchString(topic) {
				owner = p.name
				break outer
			}
		}
	}
	if len(o.topics) < 1<<16 {
		o.topics[topic] = owner
	}
	return owner
}

// WithExempt records the clusters' exempt entities, for ExemptName. It
// returns o and must be called before o is shared.
func (o *Ownership) WithExempt(clusters []config.ClusterConfig) *Ownership {
	o.exempt = map[string][]config.ExemptConfig{}
	for _, c := range clusters {
		if len(c.Exempt) > 0 {
			o.exempt[c.Name] = c.Exempt
		}
	}
	return o
}

// ExemptName returns the name of the cluster's exempt entity a
// broker-reported entity is, or "". Matching is EntityOwner's: every part
// both sides carry is equal, at least one is shared, the most specific
// match wins. Callers ask only for entities no project owns.
func (o *Ownership) ExemptName(cluster string, e config.Entity) string {
	best, bestScore := "", 0
	for _, x := range o.exempt[cluster] {
		if s := matchScore(x.Entity, e); s > bestScore {
			best, bestScore = x.Name, s
		}
	}
	return best
}

// matchScore is how many parts a configured entity shares with a
// broker-reported one, or 0 when a part both carry differs.
func matchScore(c config.Entity, e config.Entity) int {
	score := 0
	if c.User != "" && e.User != "" {
		if c.User != e.User {
			return 0
		}
		score++
	}
	if c.ClientID != "" && e.ClientID != "" {
		if c.ClientID != e.ClientID {
			return 0
		}
		score++
	}
	return score
}

// EntityOwner returns the project a broker-reported entity belongs to, or "".
// Broker labels follow the matched quota level: a user-level quota gives only
// the user, a client-level one only the client id. An entity matches a
// project when every part both sides carry is equal and at least one part is
// shared; the most specific match wins, then configuration order.
func (o *Ownership) EntityOwner(e config.Entity) string {
	best, bestScore := "", 0
	for _, p := range o.projects {
		if score := matchScore(p.entity, e); score > bestScore {
			best, bestScore = p.name, score
		}
	}
	return best
}
