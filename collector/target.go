package collector

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

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
// once, the first listing winning. file_sd targets come from Discovery.
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

// fileSDGroup is one target group of Prometheus's file_sd format.
type fileSDGroup struct {
	Targets []string          `json:"targets" yaml:"targets"`
	Labels  map[string]string `json:"labels" yaml:"labels"`
}

// Labels understood in file_sd groups. __scheme__ and __metrics_path__
// follow Prometheus; the others are Headroom's.
const (
	LabelScheme      = "__scheme__"
	LabelMetricsPath = "__metrics_path__"
	LabelProfile     = "profile"
	LabelCluster     = "cluster"
	LabelBrokerID    = "broker_id"
	LabelHost        = "host"
)

// ReadFileSD reads one file_sd file (JSON for .json, YAML otherwise; YAML is
// strict). defaultProfile applies to groups without a profile label.
func ReadFileSD(path, defaultProfile string) ([]Target, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read file_sd %s: %w", path, err)
	}
	var groups []fileSDGroup
	if strings.EqualFold(filepath.Ext(path), ".json") {
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		err = dec.Decode(&groups)
	} else {
		dec := yaml.NewDecoder(bytes.NewReader(b))
		dec.KnownFields(true)
		err = dec.Decode(&groups)
		if err != nil && err.Error() == "EOF" {
			err = nil // an empty file is an empty list
		}
	}
	if err != nil {
		return nil, fmt.Errorf("parse file_sd %s: %w", path, err)
	}
	var out []Target
	for i, g := range groups {
		profile := cmpOr(g.Labels[LabelProfile], defaultProfile)
		if _, err := ProfileByName(profile); err != nil {
			return nil, fmt.Errorf("file_sd %s: group %d: %w", path, i, err)
		}
		scheme := cmpOr(g.Labels[LabelScheme], "http")
		if scheme != "http" && scheme != "https" {
			return nil, fmt.Errorf("file_sd %s: group %d: scheme %q is not http or https", path, i, scheme)
		}
		mpath := cmpOr(g.Labels[LabelMetricsPath], "/metrics")
		for j, addr := range g.Targets {
			if _, _, err := net.SplitHostPort(addr); err != nil {
				return nil, fmt.Errorf("file_sd %s: group %d target %d %q: %w", path, i, j, addr, err)
			}
			out = append(out, Target{URL: scheme + "://" + addr + mpath, Profile: profile,
				Cluster: g.Labels[LabelCluster], BrokerID: g.Labels[LabelBrokerID], Host: g.Labels[LabelHost]})
		}
	}
	return out, nil
}

// Discovery holds the current target set: static targets plus every
// file_sd file. Reload re-reads the files whose content changed; a file that
// fails to read or parse keeps its last good targets and reports the error.
// The caller decides when to call Reload (a ticker in production, directly
// in tests), so no clock or watcher lives here.
type Discovery struct {
	static         []Target
	files          []string
	defaultProfile string
	last           map[string][]byte   // file → content of the last good read
	byFile         map[string][]Target // file → targets
}

// NewDiscovery returns a discovery over c's static targets and file_sd
// globs. Call Reload before Targets.
func NewDiscovery(c config.CollectorConfig) *Discovery {
	return NewDiscoveryFrom(StaticTargets(c), c)
}

// NewDiscoveryFrom is NewDiscovery with an explicit static list, e.g. from
// ConfigTargets.
func NewDiscoveryFrom(static []Target, c config.CollectorConfig) *Discovery {
	d := &Discovery{static: static, defaultProfile: c.Profile,
		last: map[string][]byte{}, byFile: map[string][]Target{}}
	for _, f := range c.FileSD {
		d.files = append(d.files, f.Files...)
	}
	return d
}

// Reload re-reads changed files. It returns whether the target set may have
// changed and every error met.
func (d *Discovery) Reload() (changed bool, errs []error) {
	seen := map[string]bool{}
	for _, pattern := range d.files {
		matches, err := filepath.Glob(pattern)
		if err != nil {
			errs = append(errs, fmt.Errorf("file_sd glob %q: %w", pattern, err))
			continue
		}
		for _, m := range matches {
			seen[m] = true
			b, err := os.ReadFile(m)
			if err != nil {
				errs = append(errs, fmt.Errorf("read file_sd %s: %w", m, err))
				continue
			}
			if prev, ok := d.last[m]; ok && bytes.Equal(prev, b) {
				continue
			}
			ts, err := ReadFileSD(m, d.defaultProfile)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			d.last[m], d.byFile[m] = b, ts
			changed = true
		}
	}
	for m := range d.byFile {
		if !seen[m] { // the file was removed
			delete(d.byFile, m)
			delete(d.last, m)
			changed = true
		}
	}
	return changed, errs
}

// Targets returns the current targets, deduplicated by URL, sorted.
func (d *Discovery) Targets() []Target {
	out := slices.Clone(d.static)
	for _, ts := range d.byFile {
		out = append(out, ts...)
	}
	slices.SortFunc(out, func(a, b Target) int { return strings.Compare(a.URL, b.URL) })
	return slices.CompactFunc(out, func(a, b Target) bool { return a.URL == b.URL })
}
