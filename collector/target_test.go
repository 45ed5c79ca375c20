package collector

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/headroomhq/headroom/config"
)

func TestReadFileSD(t *testing.T) {
	cases := []struct {
		file    string
		want    []Target
		wantErr string
	}{
		{"good.json", []Target{
			{URL: "http://10.0.0.1:7071/metrics", Profile: "kafka-jmx", Cluster: "prod", BrokerID: "1"},
			{URL: "http://10.0.0.2:7071/metrics", Profile: "kafka-jmx", Cluster: "prod", BrokerID: "1"},
			{URL: "https://10.0.0.1:9100/node/metrics", Profile: "node", Host: "kafka-1"},
		}, ""},
		{"good.yml", []Target{
			{URL: "http://rp-1:9644/public_metrics", Profile: "redpanda"},
			{URL: "http://kminion:8080/metrics", Profile: "kminion"},
		}, ""},
		{"bad_profile.json", nil, `unknown profile "kafka-jmxx"`},
		{"bad_field.yml", nil, "field label not found"},
		{"bad_target.json", nil, `"no-port"`},
		{"bad_syntax.json", nil, "parse file_sd"},
		{"bad_scheme.yml", nil, `scheme "ftp"`},
		{"missing.json", nil, "no such file"},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			path := filepath.Join("testdata", "file_sd", tc.file)
			got, err := ReadFileSD(path, "kafka-jmx")
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), path) {
					t.Fatalf("err = %v, want one naming %s and containing %q", err, path, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("targets = %+v", got)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("target %d = %+v, want %+v", i, got[i], tc.want[i])
				}
			}
		})
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestDiscoveryReloadsOnChange(t *testing.T) {
	dir := t.TempDir()
	sd := filepath.Join(dir, "brokers.json")
	writeFile(t, sd, `[{"targets": ["b1:7071"], "labels": {"broker_id": "1"}}]`)
	c := config.DefaultCollectorConfig()
	c.StaticTargets = []config.StaticTargetConfig{{URL: "http://host:9100/metrics", Profile: "node"}}
	c.FileSD = []config.FileSDConfig{{Files: []string{filepath.Join(dir, "*.json"), filepath.Join(dir, "*.yml")}}}
	d := NewDiscovery(c)

	urls := func() string {
		var u []string
		for _, t := range d.Targets() {
			u = append(u, t.URL)
		}
		return strings.Join(u, " ")
	}
	steps := []struct {
		name        string
		do          func()
		wantChanged bool
		wantErrs    int
		wantURLs    string
	}{
		{"initial read", func() {}, true, 0, "http://b1:7071/metrics http://host:9100/metrics"},
		{"unchanged file", func() {}, false, 0, "http://b1:7071/metrics http://host:9100/metrics"},
		{"file changed", func() {
			writeFile(t, sd, `[{"targets": ["b1:7071", "b2:7071"]}]`)
		}, true, 0, "http://b1:7071/metrics http://b2:7071/metrics http://host:9100/metrics"},
		{"broken file keeps last good targets", func() {
			writeFile(t, sd, `[{"targets": `)
		}, false, 1, "http://b1:7071/metrics http://b2:7071/metrics http://host:9100/metrics"},
		{"new yaml file", func() {
			writeFile(t, filepath.Join(dir, "more.yml"), "- targets: [\"b3:7071\"]\n")
		}, true, 1, "http://b1:7071/metrics http://b2:7071/metrics http://b3:7071/metrics http://host:9100/metrics"},
		{"files removed", func() {
			os.Remove(sd)
			os.Remove(filepath.Join(dir, "more.yml"))
		}, true, 0, "http://host:9100/metrics"},
	}
	for _, st := range steps {
		st.do()
		changed, errs := d.Reload()
		if changed != st.wantChanged || len(errs) != st.wantErrs {
			t.Errorf("%s: changed=%v errs=%v", st.name, changed, errs)
		}
		if got := urls(); got != st.wantURLs {
			t.Errorf("%s: targets = %s, want %s", st.name, got, st.wantURLs)
		}
	}
}

func TestConfigTargets(t *testing.T) {
	c, err := config.LoadFile("../config/testdata/good/minimal.yml")
	if err != nil {
		t.Fatal(err)
	}
	c.ResourceGroups[0].Brokers[0].HostMetricsURL = "http://127.0.0.1:9100/metrics"
	c.Collector.StaticTargets = []config.StaticTargetConfig{
		{URL: "http://127.0.0.1:9300/metrics", Profile: "redpanda"}, // same as the broker: dropped
		{URL: "http://kminion:8080/metrics", Profile: "kminion"},
	}
	got := ConfigTargets(c)
	want := []Target{
		{URL: "http://127.0.0.1:9300/metrics", Profile: "kafka-jmx", Cluster: "lab", BrokerID: "0"},
		{URL: "http://127.0.0.1:9100/metrics", Profile: "node", Cluster: "lab", BrokerID: "0"},
		{URL: "http://kminion:8080/metrics", Profile: "kminion"},
	}
	if len(got) != len(want) {
		t.Fatalf("targets = %+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("target %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}
