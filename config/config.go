package config

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/prometheus/common/model"
)

// Config is the whole configuration file.
type Config struct {
	Global         GlobalConfig    `yaml:"global"`
	Clusters       []ClusterConfig `yaml:"clusters"`
	ResourceGroups []GroupConfig   `yaml:"resource_groups"`
	Projects       []ProjectConfig `yaml:"projects"`
	Collector      CollectorConfig `yaml:"collector"`
	Detector       DetectorConfig  `yaml:"detector"`
	Limiter        LimiterConfig   `yaml:"limiter"`
	Alerting       AlertingConfig  `yaml:"alerting"`
	API            APIConfig       `yaml:"api"`
	Store          StoreConfig     `yaml:"store"`
	// HA, when present, runs this process as one of several replicas.
	HA *HAConfig `yaml:"ha,omitempty"`
}

// GlobalConfig holds settings shared by every component.
type GlobalConfig struct {
	// RoundInterval is the control interval: one collector snapshot, one
	// detector step and one limiter plan per round. Default 15s; 1s to 5m.
	RoundInterval model.Duration `yaml:"round_interval"`
	// ExternalURL is the URL under which Headroom is reachable by people and
	// by Alertmanager; alerts link back to it. Default http://localhost:9644.
	ExternalURL string `yaml:"external_url"`
}

// ClusterConfig is one Kafka-compatible cluster.
type ClusterConfig struct {
	// Name identifies the cluster in labels and the API. Required, unique.
	Name string `yaml:"name"`
	// BootstrapServers are host:port seeds. At least one is required.
	BootstrapServers []string `yaml:"bootstrap_servers"`
	// ClientID is the client id Headroom's admin client uses. Default "headroom".
	ClientID string `yaml:"client_id"`
	// TLS, when present and enabled, makes the connection use TLS.
	TLS *TLSConfig `yaml:"tls,omitempty"`
	// SASL, when present, authenticates the connection.
	SASL *SASLConfig `yaml:"sasl,omitempty"`
	// RequestTimeout bounds each admin request. Default 10s.
	RequestTimeout model.Duration `yaml:"request_timeout"`
	// Exempt lists client-quota entities Headroom never throttles
	// (MirrorMaker, Cruise Control, canaries). Their measured traffic on
	// each broker is taken off the capacity Headroom hands out.
	Exempt []ExemptConfig `yaml:"exempt,omitempty"`
}

// ExemptConfig is one entity of a cluster that Headroom never throttles and
// whose traffic it plans around.
type ExemptConfig struct {
	// Name identifies the entity in logs, metrics and the API. Required,
	// unique within the cluster.
	Name string `yaml:"name"`
	// Entity is the client-quota entity the brokers report its bytes
	// under. It must not be a project's entity.
	Entity Entity `yaml:"entity"`
}

// TLSConfig configures TLS towards the brokers.
type TLSConfig struct {
	Enabled            bool   `yaml:"enabled"`
	CAFile             string `yaml:"ca_file,omitempty"`
	CertFile           string `yaml:"cert_file,omitempty"`
	KeyFile            string `yaml:"key_file,omitempty"`
	ServerName         string `yaml:"server_name,omitempty"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify,omitempty"`
}

// SASL mechanisms Headroom supports.
const (
	SASLPlain       = "PLAIN"
	SASLScramSHA256 = "SCRAM-SHA-256"
	SASLScramSHA512 = "SCRAM-SHA-512"
)

// SASLConfig configures SASL authentication.
type SASLConfig struct {
	// Mechanism is PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.
	Mechanism string `yaml:"mechanism"`
	Username  string `yaml:"username"`
	// Password is the secret inline; prefer PasswordFile. Exactly one of the
	// two is required.
	Password     Secret `yaml:"password,omitempty"`
	PasswordFile string `yaml:"password_file,omitempty"`
}

// Secret is a string that never prints its value.
type Secret string

// String implements fmt.Stringer without revealing the secret.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "<secret>"
}

// MarshalYAML implements yaml.Marshaler without revealing the secret.
func (s Secret) MarshalYAML() (any, error) { return s.String(), nil }

// GroupConfig is a resource group: a set of brokers of one cluster that share
// per-broker capacity, and the projects that live on them.
type GroupConfig struct {
	// Name identifies the group. Required, unique.
	Name string `yaml:"name"`
	// Cluster names the cluster the brokers belong to. May be omitted when
	// exactly one cluster is configured.
	Cluster string `yaml:"cluster"`
	// Brokers lists the group's brokers. At least one is required, and a
	// broker belongs to one group only.
	Brokers []BrokerConfig `yaml:"brokers"`
	// Discovery finds the brokers' and hosts' metrics endpoints through
	// Prometheus service discovery; a broker's metrics_url may then be
	// omitted.
	Discovery *GroupDiscoveryConfig `yaml:"discovery,omitempty"`
	// Capacity is each broker's capacity per direction. Both are required.
	Capacity DirectionRates `yaml:"capacity"`
	// Margin is the share of capacity Headroom may hand out, in (0, 1].
	// Default 0.9.
	Margin float64 `yaml:"margin"`
}

// BrokerConfig is one broker.
type BrokerConfig struct {
	// ID is the Kafka node id.
	ID int32 `yaml:"id"`
	// MetricsURL is the broker's Prometheus endpoint (jmx_exporter,
	// Redpanda). Required unless the group discovers its brokers.
	MetricsURL string `yaml:"metrics_url,omitempty"`
	// HostMetricsURL is the node_exporter of the broker's host. Optional.
	HostMetricsURL string `yaml:"host_metrics_url,omitempty"`
}

// DirectionRates holds one byte rate per direction.
type DirectionRates struct {
	Produce Rate `yaml:"produce"`
	Fetch   Rate `yaml:"fetch"`
}

// ProjectConfig is one tenant.
type ProjectConfig struct {
	// Name identifies the project. Required, unique.
	Name string `yaml:"name"`
	// Group is the resource group the project lives in. Required.
	Group string `yaml:"group"`
	// Entity is the Kafka client-quota entity the project maps to.
	Entity Entity `yaml:"entity"`
	// Topics are the topics the project owns.
	Topics TopicsConfig `yaml:"topics"`
	// Produce and Fetch are the per-broker entitlements in each direction.
	Produce QuotaConfig `yaml:"produce"`
	Fetch   QuotaConfig `yaml:"fetch"`
	// Tier is the project's priority when capacity is short: critical,
	// standard (the default) or best-effort. Reclaim and cuts fall on
	// best-effort borrowers first; a critical project is served up to
	// min(demand, share) before anyone else's window or borrowing.
	Tier string `yaml:"tier,omitempty"`
}

// Tiers a project may carry.
const (
	TierCritical   = "critical"
	TierStandard   = "standard"
	TierBestEffort = "best-effort"
)

// TopicsConfig selects topics by prefix or by regular expression (RE2, fully
// anchored). At least one prefix or regex is required.
type TopicsConfig struct {
	Prefixes []string `yaml:"prefixes,omitempty"`
	Regexes  []string `yaml:"regexes,omitempty"`
}

// QuotaConfig is a project's entitlement in one direction, in bytes/s per
// broker (Kafka enforces quotas per broker).
type QuotaConfig struct {
	// Share is the static entitlement the project would get without
	// Headroom. Required, above zero.
	Share Rate `yaml:"share"`
	// Floor is the least the project always keeps, even when idle.
	// Default: a tenth of the share.
	Floor Rate `yaml:"floor"`
	// Ceiling is the most the project may ever get. Default: the group's
	// safe capacity (margin × capacity).
	Ceiling Rate `yaml:"ceiling"`
	// Weight sets the project's part in weighted max-min borrowing.
	// Default 1.
	Weight float64 `yaml:"weight"`
}

// DefaultConfig returns the defaults every loaded file starts from.
func DefaultConfig() Config {
	return Config{
		Global: GlobalConfig{
			RoundInterval: model.Duration(15 * time.Second),
			ExternalURL:   "http://localhost:9644",
		},
		Collector: DefaultCollectorConfig(),
		Detector:  DefaultDetectorConfig(),
		Limiter:   DefaultLimiterConfig(),
		Alerting:  DefaultAlertingConfig(),
		API:       DefaultAPIConfig(),
		Store:     DefaultStoreConfig(),
	}
}

// Defaults applied per list item, after decoding.
const (
	DefaultMargin         = 0.9
	DefaultWeight         = 1.0
	DefaultFloorFraction  = 0.1
	DefaultAdminClientID  = "headroom"
	DefaultRequestTimeout = model.Duration(10 * time.Second)
)

// LoadFile reads, decodes and validates a configuration file.
func LoadFile(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config %s: %w", path, err)
	}
	c, err := Load(b)
	if err != nil {
		return nil, fmt.Errorf("read config %s: %w", path, err)
	}
	return c, nil
}

// Load decodes and validates a configuration. On failure the error is an
// Errors value listing every problem.
func Load(b []byte) (*Config, error) {
	c := DefaultConfig()
	partial, err := DecodeStrict(b, &c, "config")
	if errors.Is(err, ErrNoDocument) {
		return nil, Errors{{Msg: "empty configuration"}}
	}
	var errs Errors
	errors.As(err, &errs)
	if partial {
		return nil, errs
	}
	c.applyDefaults()
	// A value the decoder rejected is left at its default; validation would
	// report that default again, so only the decoder's message is kept.
	bad := map[string]bool{}
	for _, e := range errs {
		bad[e.Path] = true
	}
	for _, e := range c.Validate() {
		if !bad[e.Path] {
			errs = append(errs, e)
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return &c, nil
}

// applyDefaults fills the per-item defaults that DefaultConfig cannot hold
// because the items come from the file.
func (c *Config) applyDefaults() {
	c.Alerting.applyDefaults()
	if c.HA != nil {
		c.HA.applyDefaults(c.Clusters)
	}
	for i := range c.Clusters {
		cl := &c.Clusters[i]
		if cl.ClientID == "" {
			cl.ClientID = DefaultAdminClientID
		}
		if cl.RequestTimeout == 0 {
			cl.RequestTimeout = DefaultRequestTimeout
		}
	}
	for i := range c.ResourceGroups {
		g := &c.ResourceGroups[i]
		if g.Cluster == "" && len(c.Clusters) == 1 {
			g.Cluster = c.Clusters[0].Name
		}
		if g.Margin == 0 {
			g.Margin = DefaultMargin
		}
	}
	groups := map[string]*GroupConfig{}
	for i := range c.ResourceGroups {
		groups[c.ResourceGroups[i].Name] = &c.ResourceGroups[i]
	}
	for i := range c.Projects {
		p := &c.Projects[i]
		g := groups[p.Group]
		for _, d := range []struct {
			q   *QuotaConfig
			cap func(*GroupConfig) Rate
		}{
			{&p.Produce, func(g *GroupConfig) Rate { return g.Capacity.Produce }},
			{&p.Fetch, func(g *GroupConfig) Rate { return g.Capacity.Fetch }},
		} {
			if d.q.Weight == 0 {
				d.q.Weight = DefaultWeight
			}
			if d.q.Floor == 0 {
				d.q.Floor = Rate(float64(d.q.Share) * DefaultFloorFraction)
			}
			if d.q.Ceiling == 0 && g != nil {
				d.q.Ceiling = Rate(float64(d.cap(g)) * g.Margin)
			}
		}
	}
}

// Group returns the resource group with the given name.
func (c *Config) Group(name string) (*GroupConfig, bool) {
	for i := range c.ResourceGroups {
		if c.ResourceGroups[i].Name == name {
			return &c.ResourceGroups[i], true
		}
	}
	return nil, false
}

// Cluster returns the cluster with the given name.
func (c *Config) Cluster(name string) (*ClusterConfig, bool) {
	for i := range c.Clusters {
		if c.Clusters[i].Name == name {
			return &c.Clusters[i], true
		}
	}
	return nil, false
}
