package config

import (
	"fmt"
	"path/filepath"
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
	// FileSD lists Prometheus file_sd files (JSON or YAML, globs allowed),
	// re-read every RefreshInterval and used when their content changes.
	FileSD []FileSDConfig `yaml:"file_sd,omitempty"`
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

// FileSDConfig is a set of file_sd files.
type FileSDConfig struct {
	// Files are paths or globs. At least one is required.
	Files []string `yaml:"files"`
	// RefreshInterval is how often the files are checked. Default 30s.
	RefreshInterval model.Duration `yaml:"refresh_interval,omitempty"`
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
	for i, f := range c.FileSD {
		p := indexPath("file_sd", i)
		if len(f.Files) == 0 {
			errs = append(errs, fieldErr(p+".files", "at least one file or glob is required"))
		}
		for j, g := range f.Files {
			if _, err := filepath.Match(g, ""); err != nil {
				errs = append(errs, fieldErr(fmt.Sprintf("%s.files[%d]", p, j), "bad glob %q: %v", g, err))
			}
		}
		if f.RefreshInterval < 0 {
			errs = append(errs, fieldErr(p+".refresh_interval", "must not be negative"))
		}
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
