package config

import (
	"regexp"
	"time"

	"github.com/prometheus/common/model"
)

// HAConfig runs two or more replicas of `headroom serve` against one
// cluster: they elect the active replica through a Kafka consumer group,
// fence zombies with a transactional producer, and keep their shared state
// in internal topics. Without an ha block one replica runs on its SQLite
// file alone.
type HAConfig struct {
	// GroupID is the consumer group every replica joins. Required.
	GroupID string `yaml:"group_id"`
	// Cluster names the cluster that holds the group and the topics. May
	// be omitted when exactly one cluster is configured.
	Cluster string `yaml:"cluster"`
	// ReplicaID names this replica in status, logs and intents. Default:
	// the host name and the listen address.
	ReplicaID string `yaml:"replica_id,omitempty"`
	// ControlTopic carries the election's single partition and the intent
	// records. Default "_headroom_control".
	ControlTopic string `yaml:"control_topic"`
	// StateTopic holds keyed state (overrides, incidents, detector state):
	// compacted. Default "_headroom_state".
	StateTopic string `yaml:"state_topic"`
	// EventsTopic holds append-only records (audit, ledger): deleted after
	// events_retention. Default "_headroom_events".
	EventsTopic string `yaml:"events_topic"`
	// EventsRetention is the events topic's retention. Default 30d.
	EventsRetention model.Duration `yaml:"events_retention"`
	// TransactionalID is the fencing producer's id; every replica of a
	// deployment shares it. Default group_id + "-fence".
	TransactionalID string `yaml:"transactional_id"`
	// SessionTimeout is the group session timeout: how long a replica that
	// stopped answering stays a member. Default 10s; 1s to 5m.
	SessionTimeout model.Duration `yaml:"session_timeout"`
	// Lease is how long one confirmation of membership lets the active
	// replica write; shorter than session_timeout. Default half of it.
	Lease model.Duration `yaml:"lease"`
}

// HA defaults.
const (
	DefaultHAControlTopic    = "_headroom_control"
	DefaultHAStateTopic      = "_headroom_state"
	DefaultHAEventsTopic     = "_headroom_events"
	DefaultHASessionTimeout  = model.Duration(10 * time.Second)
	DefaultHAEventsRetention = model.Duration(30 * 24 * time.Hour)
)

func (c *HAConfig) applyDefaults(clusters []ClusterConfig) {
	if c.Cluster == "" && len(clusters) == 1 {
		c.Cluster = clusters[0].Name
	}
	if c.ControlTopic == "" {
		c.ControlTopic = DefaultHAControlTopic
	}
	if c.StateTopic == "" {
		c.StateTopic = DefaultHAStateTopic
	}
	if c.EventsTopic == "" {
		c.EventsTopic = DefaultHAEventsTopic
	}
	if c.EventsRetention == 0 {
		c.EventsRetention = DefaultHAEventsRetention
	}
	if c.TransactionalID == "" && c.GroupID != "" {
		c.TransactionalID = c.GroupID + "-fence"
	}
	if c.SessionTimeout == 0 {
		c.SessionTimeout = DefaultHASessionTimeout
	}
	if c.Lease == 0 {
		c.Lease = c.SessionTimeout / 2
	}
}

// topicName is what Kafka accepts as a topic name.
var topicName = regexp.MustCompile(`^[a-zA-Z0-9._-]{1,249}$`)

// validate reports the block's problems; clusters are the configured ones.
func (c *HAConfig) validate(clusters []ClusterConfig) []error {
	var errs []error
	if c.GroupID == "" {
		errs = append(errs, fieldErr("group_id", "required: the consumer group every replica joins"))
	}
	switch {
	case c.Cluster == "":
		errs = append(errs, fieldErr("cluster", "required when more than one cluster is configured"))
	default:
		found := false
		for _, cl := range clusters {
			found = found || cl.Name == c.Cluster
		}
		if !found {
			errs = append(errs, fieldErr("cluster", "unknown cluster %q", c.Cluster))
		}
	}
	topics := map[string]string{}
	for _, t := range []struct{ field, name string }{
		{"control_topic", c.ControlTopic}, {"state_topic", c.StateTopic}, {"events_topic", c.EventsTopic},
	} {
		if !topicName.MatchString(t.name) || t.name == "." || t.name == ".." {
			errs = append(errs, fieldErr(t.field, "invalid topic name %q", t.name))
		}
		if other, dup := topics[t.name]; dup {
			errs = append(errs, fieldErr(t.field, "same topic as %s", other))
		}
		topics[t.name] = t.field
	}
	st := time.Duration(c.SessionTimeout)
	if st < time.Second || st > 5*time.Minute {
		errs = append(errs, fieldErr("session_timeout", "must be between 1s and 5m, got %s", c.SessionTimeout))
	}
	if c.Lease <= 0 || c.Lease >= c.SessionTimeout {
		errs = append(errs, fieldErr("lease", "must be positive and shorter than session_timeout %s, got %s", c.SessionTimeout, c.Lease))
	}
	if time.Duration(c.EventsRetention) < time.Hour {
		errs = append(errs, fieldErr("events_retention", "must be at least 1h"))
	}
	return errs
}
