package dashboards

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

var update = flag.Bool("update", false, "rewrite json/ from the code")

// TestCommittedJSONIsGenerated keeps json/ in step with the code.
func TestCommittedJSONIsGenerated(t *testing.T) {
	for name, b := range All() {
		t.Run(name, func(t *testing.T) {
			got, err := Render(b)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("json", name)
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./dashboards -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("%s is stale: run go test ./dashboards -update", path)
			}
		})
	}
}

// TestPanelsUseProvisionedDatasources checks every panel and target names a
// datasource that provisioning creates, and every Headroom query is one the
// plugin serves.
func TestPanelsUseProvisionedDatasources(t *testing.T) {
	var prov struct {
		Datasources []struct {
			UID  string `yaml:"uid"`
			Type string `yaml:"type"`
		} `yaml:"datasources"`
	}
	b, err := os.ReadFile("provisioning/datasources/headroom.yml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &prov); err != nil {
		t.Fatal(err)
	}
	known := map[string]string{}
	for _, d := range prov.Datasources {
		known[d.UID] = d.Type
	}
	if known[PrometheusUID] != "prometheus" || known[HeadroomUID] != PluginID {
		t.Fatalf("provisioned datasources %v", known)
	}
	for name, builder := range All() {
		raw, err := Render(builder)
		if err != nil {
			t.Fatal(err)
		}
		var d struct {
			UID    string `json:"uid"`
			Panels []struct {
				Title   string `json:"title"`
				Targets []struct {
					Datasource struct{ Type, UID string } `json:"datasource"`
					QueryType  string                     `json:"queryType"`
					Expr       string                     `json:"expr"`
				} `json:"targets"`
			} `json:"panels"`
		}
		if err := json.Unmarshal(raw, &d); err != nil {
			t.Fatal(err)
		}
		targets := 0
		for _, p := range d.Panels {
			for _, tg := range p.Targets {
				targets++
				if known[tg.Datasource.UID] != tg.Datasource.Type {
					t.Errorf("%s / %s: datasource %s/%s is not provisioned", name, p.Title, tg.Datasource.Type, tg.Datasource.UID)
				}
				if tg.Datasource.Type == "prometheus" && strings.TrimSpace(tg.Expr) == "" {
					t.Errorf("%s / %s: empty PromQL", name, p.Title)
				}
				if tg.Datasource.Type == PluginID && tg.QueryType == "" {
					t.Errorf("%s / %s: Headroom query without a type", name, p.Title)
				}
			}
		}
		if targets < 3 || !strings.HasPrefix(d.UID, "headroom-") {
			t.Errorf("%s: uid %q, %d targets", name, d.UID, targets)
		}
	}
}
