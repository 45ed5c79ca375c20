package config

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/discovery"
	"github.com/prometheus/prometheus/model/relabel"
	yamlv2 "go.yaml.in/yaml/v2"
	"gopkg.in/yaml.v3"

	// The service-discovery mechanisms Headroom supports register their
	// *_sd_configs keys here. Only these are linked in: each mechanism
	// brings its own client libraries.
	_ "github.com/prometheus/prometheus/discovery/dns"
	_ "github.com/prometheus/prometheus/discovery/file"
	_ "github.com/prometheus/prometheus/discovery/kubernetes"
)

// SDKeys are the service-discovery keys an SDConfig accepts, besides
// relabel_configs.
var SDKeys = []string{"dns_sd_configs", "file_sd_configs", "kubernetes_sd_configs", "static_configs"}

// GroupDiscoveryConfig finds where a resource group's brokers and hosts are
// scraped. The group's brokers list stays the membership (ids and
// capacity); discovery supplies the URLs.
type GroupDiscoveryConfig struct {
	// Brokers finds broker metrics endpoints. After relabelling, every
	// target must carry a broker_id label naming one of the group's
	// brokers (for example taken from a Strimzi pod name).
	Brokers *SDConfig `yaml:"brokers,omitempty"`
	// Hosts finds the node_exporter of each broker's host; broker_id ties
	// a host to its broker, and host names it (default the address's host).
	Hosts *SDConfig `yaml:"hosts,omitempty"`
}

// SDConfig is one Prometheus service-discovery block, written as in a
// Prometheus scrape config: any of dns_sd_configs, file_sd_configs,
// kubernetes_sd_configs and static_configs, then relabel_configs applied to
// every discovered target. After relabelling, __address__ (host:port),
// __scheme__ (default http) and __metrics_path__ (default /metrics) make
// the URL, and the labels profile, cluster, broker_id and host fill the
// target's fields. A relabel rule with action drop removes a target.
type SDConfig struct {
	// Configs are the discovery mechanisms, decoded by Prometheus's own
	// types (which validate them).
	Configs discovery.Configs `yaml:"-"`
	// RelabelConfigs are applied in order to every target.
	RelabelConfigs []*relabel.Config `yaml:"-"`

	problems []FieldError // relative paths; reported by Validate
}

// UnmarshalYAML decodes the block. Each item is decoded strictly by
// Prometheus's YAML types, one at a time, so that a problem is reported
// with the path of the item that has it; problems are kept for Validate.
func (s *SDConfig) UnmarshalYAML(n *yaml.Node) error {
	*s = SDConfig{}
	if n.Kind != yaml.MappingNode {
		s.problem("", n.Line, "want a mapping of %s and relabel_configs", strings.Join(SDKeys, ", "))
		return nil
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if seen[k.Value] {
			s.problem(k.Value, k.Line, "duplicate field")
			continue
		}
		seen[k.Value] = true
		isSD := slices.Contains(SDKeys, k.Value)
		if !isSD && k.Value != "relabel_configs" {
			if strings.HasSuffix(k.Value, "_sd_configs") {
				s.problem(k.Value, k.Line, "unsupported service discovery; Headroom supports %s", strings.Join(SDKeys, ", "))
			} else {
				s.problem(k.Value, k.Line, "unknown field %q", k.Value)
			}
			continue
		}
		if v.Kind != yaml.SequenceNode {
			s.problem(k.Value, v.Line, "want a list")
			continue
		}
		for j, item := range v.Content {
			path := fmt.Sprintf("%s[%d]", k.Value, j)
			if !isSD {
				rc := &relabel.Config{}
				if err := decodeStrictV2(item, rc); err != nil {
					s.problem(path, item.Line, "%s", cleanV2Error(err))
					continue
				}
				if err := rc.Validate(model.UTF8Validation); err != nil {
					s.problem(path, item.Line, "%v", err)
					continue
				}
				s.RelabelConfigs = append(s.RelabelConfigs, rc)
				continue
			}
			one := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Content: []*yaml.Node{k,
				{Kind: yaml.SequenceNode, Tag: "!!seq", Content: []*yaml.Node{item}}}}
			var w sdItem
			if err := decodeStrictV2(one, &w); err != nil {
				s.problem(path, item.Line, "%s", cleanV2Error(err))
				continue
			}
			s.Configs = append(s.Configs, w.Configs...)
		}
	}
	if len(s.Configs) == 0 && len(s.problems) == 0 {
		s.problem("", n.Line, "at least one of %s is required", strings.Join(SDKeys, ", "))
	}
	return nil
}

func (s *SDConfig) problem(path string, line int, format string, args ...any) {
	s.problems = append(s.problems, FieldError{Path: path, Line: line, Msg: fmt.Sprintf(format, args...)})
}

// Validate reports the block's problems under path.
func (s *SDConfig) Validate(path string) []error {
	var errs []error
	for _, p := range s.problems {
		if p.Path == "" {
			p.Path = path
		} else {
			p.Path = joinPath(path, p.Path)
		}
		errs = append(errs, p)
	}
	return errs
}

// sdItem decodes one *_sd_configs or static_configs list through the
// discovery package's registry.
type sdItem struct {
	Configs discovery.Configs `yaml:"-"`
}

func (w *sdItem) UnmarshalYAML(unmarshal func(any) error) error {
	return discovery.UnmarshalYAMLWithInlineConfigs(w, unmarshal)
}

// decodeStrictV2 decodes a node with the YAML library Prometheus's types
// are written for, rejecting unknown fields as Prometheus does.
func decodeStrictV2(n *yaml.Node, out any) error {
	b, err := yaml.Marshal(n)
	if err != nil {
		return err
	}
	return yamlv2.UnmarshalStrict(b, out)
}

var (
	v2LineRe    = regexp.MustCompile(`^line \d+: `)
	v2UnknownRe = regexp.MustCompile(`^field (\S+) not found in type \S+$`)
)

// cleanV2Error drops the decoder's preamble and its line numbers (which
// count from the re-encoded item, not the file).
func cleanV2Error(err error) string {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	msg = strings.TrimPrefix(msg, "unmarshal errors:\n")
	var out []string
	for _, l := range strings.Split(msg, "\n") {
		l = v2LineRe.ReplaceAllString(strings.TrimSpace(l), "")
		if m := v2UnknownRe.FindStringSubmatch(l); m != nil {
			l = fmt.Sprintf("unknown field %q", m[1])
		}
		if l != "" {
			out = append(out, l)
		}
	}
	return strings.Join(out, "; ")
}
