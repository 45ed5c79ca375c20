package deploy_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// serveFlags are the flags `headroom serve` accepts (cmd/headroom/serve.go).
var serveFlags = []string{"--config.file", "--web.listen-address", "--web.shutdown-timeout", "--log.level"}

func checkServeArgs(t *testing.T, where string, args []string) {
	t.Helper()
	if len(args) == 0 || args[0] != "serve" {
		t.Fatalf("%s: args %v do not run headroom serve", where, args)
	}
	var sawConfig bool
	for _, a := range args[1:] {
		name, _, _ := strings.Cut(a, "=")
		if !slices.Contains(serveFlags, name) {
			t.Errorf("%s: %q is not a flag of headroom serve", where, a)
		}
		sawConfig = sawConfig || name == "--config.file"
	}
	if !sawConfig {
		t.Errorf("%s: no --config.file", where)
	}
}

func TestKubernetesManifests(t *testing.T) {
	b, err := os.ReadFile("kubernetes/headroom.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	kinds := map[string]int{}
	for {
		var doc struct {
			Kind string `yaml:"kind"`
			Spec struct {
				Replicas             *int `yaml:"replicas"`
				VolumeClaimTemplates []struct {
					Metadata struct {
						Name string `yaml:"name"`
					} `yaml:"metadata"`
				} `yaml:"volumeClaimTemplates"`
				Template struct {
					Spec struct {
						Containers []struct {
							Name  string   `yaml:"name"`
							Args  []string `yaml:"args"`
							Ports []struct {
								ContainerPort int `yaml:"containerPort"`
							} `yaml:"ports"`
						} `yaml:"containers"`
					} `yaml:"spec"`
				} `yaml:"template"`
			} `yaml:"spec"`
		}
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("kubernetes/headroom.yaml: %v", err)
		}
		kinds[doc.Kind]++
		if doc.Kind == "StatefulSet" {
			// Two replicas elect their writer through Kafka (the ha block
			// the header documents); each keeps its own store.
			if doc.Spec.Replicas == nil || *doc.Spec.Replicas != 2 {
				t.Error("the StatefulSet must run two replicas")
			}
			if len(doc.Spec.VolumeClaimTemplates) != 1 || doc.Spec.VolumeClaimTemplates[0].Metadata.Name != "store" {
				t.Error("each replica needs a store volume of its own (volumeClaimTemplates)")
			}
			for _, c := range doc.Spec.Template.Spec.Containers {
				if c.Name == "headroom" {
					checkServeArgs(t, "StatefulSet container headroom", c.Args)
				}
			}
		}
	}
	if !strings.Contains(string(b), "#   ha:\n#     group_id: ") {
		t.Error("the manifest's header must show the ha block its replicas need")
	}
	if kinds["PersistentVolumeClaim"] != 0 {
		t.Error("a PersistentVolumeClaim shared by the replicas: each needs its own")
	}
	for _, k := range []string{"ServiceAccount", "StatefulSet", "Service"} {
		if kinds[k] != 1 {
			t.Errorf("kubernetes/headroom.yaml has %d %s, want 1", kinds[k], k)
		}
	}
}

func TestSystemdUnit(t *testing.T) {
	b, err := os.ReadFile("systemd/headroom.service")
	if err != nil {
		t.Fatal(err)
	}
	unit := strings.ReplaceAll(string(b), "\\\n", " ")
	var exec string
	for _, l := range strings.Split(unit, "\n") {
		if v, ok := strings.CutPrefix(l, "ExecStart="); ok {
			exec = v
		}
	}
	f := strings.Fields(exec)
	if len(f) < 2 || !strings.HasSuffix(f[0], "/headroom") {
		t.Fatalf("ExecStart %q does not run headroom", exec)
	}
	checkServeArgs(t, "ExecStart", f[1:])
	for _, want := range []string{"ExecReload=/bin/kill -HUP $MAINPID", "KillSignal=SIGTERM", "ExecStartPre=/usr/local/bin/headroom check config",
		"#   ha:\n#     group_id: "} {
		if !strings.Contains(unit, want) {
			t.Errorf("the unit lacks %q", want)
		}
	}
}
