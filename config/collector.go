package config

import (
	"time"

	"github.com/prometheus/common/model"
)

// CollectorConfig configures how Headroom observes brokers and hosts.
type CollectorConfig struct {
	// ScrapeTimeout bounds each scrape. Default 10s; must not exceed the
	// round interval.
	ScrapeTimeout model.Duration `yaml:"scrape_timeout"`
	// BodySizeLimit caps a scrape's uncompressed body, in bytes. Default
	// 64MiB. A larger page is a target error.
	BodySizeLimit Rate `yaml:"body_size_limit"`
	// StaleAfter marks a series stale when it has not been seen for this
	// long. Default 3 rounds' worth: 45s.
	StaleAfter model.Duration `yaml:"stale_after"`
	// Profile is the exposition profile of broker targets: kafka-jmx,
	// kafka-strimzi, kafka-confluent or redpanda. Default kafka-jmx.
	Profile string `yaml:"profile"`
	// StaticTargets are scrape targets listed in the file.
	StaticTargets []StaticTargetConfig `yaml:"static_targets,omitempty"`
	// Discovery lists Prometheus service-discovery blocks for targets that
	// belong to no resource group (kminion, kafka-exporter, extra hosts).
	// After relabelling, the labels profile, cluster, broker_id and host
	// fill the target's fields as in static_targets.
	Discovery []SDConfig `yaml:"discovery,omitempty"`
}

// StaticTargetConfig is one scrape target.
type StaticTargetConfig struct {
	// URL is the full metrics URL, http or https. Required.
	URL string `yaml:"url"`
	// Profile overrides the section's profile: any collector profile
	// (kafka-jmx, kafka-strimzi, kafka-confluent, redpanda, node, kminion,
	// kafka-exporter).
	Profile string `yaml:"profile,omitempty"`
	// Cluster and BrokerID identify the broker for broker profiles.
	Cluster  string `yaml:"cluster,omitempty"`
	BrokerID string `yaml:"broker_id,omitempty"`
	// Host names the host for the node profile; default the URL's host.
	Host string `yaml:"host,omitempty"`
}

// Collector profiles.
const (
	ProfileKafkaJMX       = "kafka-jmx"
	ProfileKafkaStrimzi   = "kafka-strimzi"
	ProfileKafkaConfluent = "kafka-confluent"
	ProfileRedpanda       = "redpanda"
	ProfileNode           = "node"
	ProfileKminion        = "kminion"
	ProfileKafkaExporter  = "kafka-exporter"
)

// DefaultCollectorConfig returns the collector defaults.
func DefaultCollectorConfig() CollectorConfig {
	return CollectorConfig{
		ScrapeTimeout: model.Duration(10 * time.Second),
		BodySizeLimit: 64 << 20,
		StaleAfter:    model.Duration(45 * time.Second),
		Profile:       ProfileKafkaJMX,
	}
}

// Validate reports the section's problems.
func (c *CollectorConfig) Validate() []error {
	var errs []error
	if c.ScrapeTimeout <= 0 {
		errs = append(errs, fieldErr("scrape_timeout", "must be positive"))
	}
	if c.BodySizeLimit < 1024 {
		errs = append(errs, fieldErr("body_size_limit", "must be at least 1KiB"))
	}
	if c.StaleAfter <= 0 {
		errs = append(errs, fieldErr("stale_after", "must be positive"))
	}
	switch c.Profile {
	case ProfileKafkaJMX, ProfileKafkaStrimzi, ProfileKafkaConfluent, ProfileRedpanda:
	default:
		errs = append(errs, fieldErr("profile", "unknown broker profile %q (want kafka-jmx, kafka-strimzi, kafka-confluent or redpanda)", c.Profile))
	}
	for i, t := range c.StaticTargets {
		p := indexPath("static_targets", i)
		if err := checkHTTPURL(t.URL); err != nil {
			errs = append(errs, fieldErr(p+".url", "%v", err))
		}
		if t.Profile != "" && !IsCollectorProfile(t.Profile) {
			errs = append(errs, fieldErr(p+".profile", "unknown profile %q", t.Profile))
		}
	}
	for i := range c.Discovery {
		errs = append(errs, c.Discovery[i].Validate(indexPath("discovery", i))...)
	}
	return errs
}

// IsCollectorProfile reports whether name is a collector profile.
func IsCollectorProfile(name string) bool {
	switch name {
	case ProfileKafkaJMX, ProfileKafkaStrimzi, ProfileKafkaConfluent, ProfileRedpanda,
		ProfileNode, ProfileKminion, ProfileKafkaExporter:
		return true
	}
	return false
}
