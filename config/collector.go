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
	return errs
}
