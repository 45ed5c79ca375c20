package config

import (
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/discovery/file"
)

func TestCollectorConfigValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(c *CollectorConfig)
		want   string // "" means valid
	}{
		{"defaults", func(c *CollectorConfig) {}, ""},
		{"zero timeout", func(c *CollectorConfig) { c.ScrapeTimeout = 0 }, "scrape_timeout: must be positive"},
		{"tiny body limit", func(c *CollectorConfig) { c.BodySizeLimit = 10 }, "body_size_limit"},
		{"zero stale_after", func(c *CollectorConfig) { c.StaleAfter = 0 }, "stale_after"},
		{"node as broker profile", func(c *CollectorConfig) { c.Profile = ProfileNode }, "profile: unknown broker profile"},
		{"static target ok", func(c *CollectorConfig) {
			c.StaticTargets = []StaticTargetConfig{{URL: "http://h:9100/metrics", Profile: ProfileNode}}
		}, ""},
		{"static target without url", func(c *CollectorConfig) {
			c.StaticTargets = []StaticTargetConfig{{Profile: ProfileNode}}
		}, "static_targets[0].url: required"},
		{"static target bad scheme", func(c *CollectorConfig) {
			c.StaticTargets = []StaticTargetConfig{{URL: "http://ok:1/m"}, {URL: "ftp://h/m"}}
		}, "static_targets[1].url: invalid URL"},
		{"static target bad profile", func(c *CollectorConfig) {
			c.StaticTargets = []StaticTargetConfig{{URL: "http://h:1/m", Profile: "jmx"}}
		}, `static_targets[0].profile: unknown profile "jmx"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultCollectorConfig()
			tt.change(&c)
			errs := c.Validate()
			if tt.want == "" {
				if len(errs) > 0 {
					t.Fatalf("unexpected errors: %v", errs)
				}
				return
			}
			var all []string
			for _, e := range errs {
				all = append(all, e.Error())
			}
			if !strings.Contains(strings.Join(all, "\n"), tt.want) {
				t.Fatalf("errors %q do not mention %q", all, tt.want)
			}
		})
	}
}

func TestCollectorSectionLoads(t *testing.T) {
	base, err := os.ReadFile("testdata/good/minimal.yml")
	if err != nil {
		t.Fatal(err)
	}
	good := `collector:
  scrape_timeout: 5s
  profile: kafka-strimzi
  static_targets:
    - {url: "http://10.0.0.1:9100/metrics", profile: node, host: kafka-1}
    - {url: "http://10.0.0.1:7071/metrics", cluster: lab, broker_id: "1"}
  discovery:
    - file_sd_configs:
        - files: ["/etc/headroom/sd/*.json"]
          refresh_interval: 1m
      relabel_configs:
        - {source_labels: [__meta_filepath], regex: ".*/(kminion)[.]json", target_label: profile}
`
	c, err := Load(append(append([]byte{}, base...), good...))
	if err != nil {
		t.Fatal(err)
	}
	col := c.Collector
	if col.Profile != ProfileKafkaStrimzi || len(col.StaticTargets) != 2 || col.StaticTargets[0].Host != "kafka-1" ||
		col.StaticTargets[1].BrokerID != "1" || len(col.Discovery) != 1 ||
		len(col.Discovery[0].Configs) != 1 || len(col.Discovery[0].RelabelConfigs) != 1 {
		t.Fatalf("collector = %+v", col)
	}
	if fc, ok := col.Discovery[0].Configs[0].(*file.SDConfig); !ok || fc.RefreshInterval != model.Duration(time.Minute) ||
		!slices.Equal(fc.Files, []string{"/etc/headroom/sd/*.json"}) {
		t.Errorf("collector = %+v", col)
	}
	bad := `collector:
  static_targets:
    - {url: "http://h:1/m", profil: node}
`
	_, err = Load(append(append([]byte{}, base...), bad...))
	if err == nil || !strings.Contains(err.Error(), "profil") {
		t.Fatalf("unknown field: err = %v", err)
	}
}

// The round loop keeps its target discovery across a reload when the
// configuration compares equal (reflect.DeepEqual), so the same discovery
// blocks loaded twice must compare equal, and a changed one must not.
func TestDiscoveryConfigsCompareEqual(t *testing.T) {
	b, err := os.ReadFile("testdata/good/discovery.yml")
	if err != nil {
		t.Fatal(err)
	}
	a, err := Load(b)
	if err != nil {
		t.Fatal(err)
	}
	again, err := Load(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a.ResourceGroups, again.ResourceGroups) || !reflect.DeepEqual(a.Collector, again.Collector) {
		t.Fatal("the same discovery configuration loaded twice compares unequal")
	}
	changed, err := Load([]byte(strings.Replace(string(b), `regex: ".*-([0-9]+)"`, `regex: ".*-([0-9]+)$"`, 1)))
	if err != nil {
		t.Fatal(err)
	}
	if reflect.DeepEqual(a.ResourceGroups, changed.ResourceGroups) {
		t.Fatal("a changed relabel rule compares equal")
	}
}
