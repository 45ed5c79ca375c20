package collector

import (
	"net/url"
	"strconv"

	"github.com/headroomhq/headroom/config"
)

// Target is one scrape endpoint.
type Target struct {
	// URL is the full metrics URL.
	URL string `json:"url"`
	// Profile is the exposition profile name.
	Profile string `json:"profile"`
	// Cluster and BrokerID identify the broker (broker profiles).
	Cluster  string `json:"cluster,omitempty"`
	BrokerID string `json:"broker_id,omitempty"`
	// Host names the host (node profile); default the URL's host.
	Host string `json:"host,omitempty"`
}

// Broker returns the broker key: cluster and id, or the URL's host:port.
func (t Target) Broker() BrokerKey {
	if t.BrokerID != "" {
		return BrokerKey{Cluster: t.Cluster, Broker: t.BrokerID}
	}
	u, err := url.Parse(t.URL)
	if err != nil {
		return BrokerKey{Cluster: t.Cluster, Broker: t.URL}
	}
	return BrokerKey{Cluster: t.Cluster, Broker: u.Host}
}

// HostName returns Host or the hostname part of the URL.
func (t Target) HostName() string {
	if t.Host != "" {
		return t.Host
	}
	u, err := url.Parse(t.URL)
	if err != nil {
		return t.URL
	}
	return u.Hostname()
}

// ConfigTargets returns every target the whole configuration names: each
// resource group broker's metrics_url (with the collector's broker profile,
// the group's cluster and the broker id) and host_metrics_url (node
// profile), then the collector's static targets. A URL listed twice is kept
// once, the first listing winning. Discovered targets come from Discovery.
func ConfigTargets(c *config.Config) []Target {
	var out []Target
	seen := map[string]bool{}
	add := func(t Target) {
		if t.URL == "" || seen[t.URL] {
			return
		}
		seen[t.URL] = true
		out = append(out, t)
	}
	for _, g := range c.ResourceGroups {
		cluster := g.Cluster
		if cluster == "" && len(c.Clusters) == 1 {
			cluster = c.Clusters[0].Name
		}
		for _, b := range g.Brokers {
			id := strconv.Itoa(int(b.ID))
			add(Target{URL: b.MetricsURL, Profile: c.Collector.Profile, Cluster: cluster, BrokerID: id})
			add(Target{URL: b.HostMetricsURL, Profile: config.ProfileNode, Cluster: cluster, BrokerID: id})
		}
	}
	for _, t := range StaticTargets(c.Collector) {
		add(t)
	}
	return out
}

// StaticTargets converts configured static targets.
func StaticTargets(c config.CollectorConfig) []Target {
	var out []Target
	for _, st := range c.StaticTargets {
		out = append(out, Target{URL: st.URL, Profile: cmpOr(st.Profile, c.Profile), Cluster: st.Cluster,
			BrokerID: st.BrokerID, Host: st.Host})
	}
	return out
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// Labels read from a discovered target after relabelling. __address__,
// __scheme__, __metrics_path__ and __param_* follow Prometheus; the others
// are Headroom's.
const (
	LabelAddress     = "__address__"
	LabelScheme      = "__scheme__"
	LabelMetricsPath = "__metrics_path__"
	LabelParamPrefix = "__param_"
	LabelProfile     = "profile"
	LabelCluster     = "cluster"
	LabelBrokerID    = "broker_id"
	LabelHost        = "host"
)
