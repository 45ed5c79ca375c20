package deploy_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/headroomhq/headroom/server"
)

// serveFlags are the flags `headroom serve` accepts (cmd/headroom/serve.go).
var serveFlags = []string{"--config.file", "--web.listen-address", "--web.config.file", "--web.enable-lifecycle", "--web.shutdown-timeout", "--log.level"}

// webConfigArg returns the --web.config.file of args, empty without one.
func webConfigArg(args []string) string {
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "--web.config.file="); ok {
			return v
		}
	}
	return ""
}

// checkWebConfig validates a web configuration's text the way serve does
// at start, with its certificate and key paths pointed at a throwaway
// pair; it must turn TLS on.
func checkWebConfig(t *testing.T, where, text string) {
	t.Helper()
	dir := t.TempDir()
	certPEM, keyPEM := throwawayPair(t)
	certPath, keyPath := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	for p, b := range map[string][]byte{certPath: certPEM, keyPath: keyPEM} {
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	re := regexp.MustCompile(`(?m)^(\s*cert_file:\s*)\S+$`)
	if !re.MatchString(text) {
		t.Fatalf("%s: no tls_server_config.cert_file: TLS is not configured\n%s", where, text)
	}
	text = re.ReplaceAllString(text, "${1}"+certPath)
	text = regexp.MustCompile(`(?m)^(\s*key_file:\s*)\S+$`).ReplaceAllString(text, "${1}"+keyPath)
	path := filepath.Join(dir, "web.yml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := server.ValidateWebConfig(path); err != nil {
		t.Fatalf("%s: %v", where, err)
	}
}

func throwawayPair(t *testing.T) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "headroom"}, DNSNames: []string{"headroom"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})
}

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
	var webText, webArg string
	mounts, volumes := map[string]string{}, map[string]string{}
	for {
		var doc struct {
			Kind     string `yaml:"kind"`
			Metadata struct {
				Name string `yaml:"name"`
			} `yaml:"metadata"`
			Data map[string]string `yaml:"data"`
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
							ReadinessProbe struct {
								HTTPGet struct {
									Scheme string `yaml:"scheme"`
								} `yaml:"httpGet"`
							} `yaml:"readinessProbe"`
							VolumeMounts []struct {
								Name      string `yaml:"name"`
								MountPath string `yaml:"mountPath"`
							} `yaml:"volumeMounts"`
						} `yaml:"containers"`
						Volumes []struct {
							Name      string `yaml:"name"`
							ConfigMap *struct {
								Name string `yaml:"name"`
							} `yaml:"configMap"`
							Secret *struct {
								SecretName string `yaml:"secretName"`
							} `yaml:"secret"`
						} `yaml:"volumes"`
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
		if doc.Kind == "ConfigMap" && doc.Metadata.Name == "headroom-web" {
			webText = doc.Data["web.yml"]
		}
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
				if c.Name != "headroom" {
					continue
				}
				checkServeArgs(t, "StatefulSet container headroom", c.Args)
				webArg = webConfigArg(c.Args)
				if c.ReadinessProbe.HTTPGet.Scheme != "HTTPS" {
					t.Error("the readiness probe does not use HTTPS")
				}
				for _, m := range c.VolumeMounts {
					mounts[m.Name] = m.MountPath
				}
			}
			for _, v := range doc.Spec.Template.Spec.Volumes {
				switch {
				case v.Secret != nil:
					volumes[v.Name] = "secret " + v.Secret.SecretName
				case v.ConfigMap != nil:
					volumes[v.Name] = "configMap " + v.ConfigMap.Name
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
	for _, k := range []string{"ServiceAccount", "StatefulSet", "Service", "ConfigMap"} {
		if kinds[k] != 1 {
			t.Errorf("kubernetes/headroom.yaml has %d %s, want 1", kinds[k], k)
		}
	}
	// TLS: the web configuration is mounted where --web.config.file
	// points, and its certificate comes from the mounted tls Secret.
	if webArg != mounts["web"]+"/web.yml" || volumes["web"] != "configMap headroom-web" {
		t.Errorf("--web.config.file=%q, web mounted at %q from %q", webArg, mounts["web"], volumes["web"])
	}
	if volumes["tls"] != "secret headroom-tls" || !strings.Contains(webText, "cert_file: "+mounts["tls"]+"/tls.crt") ||
		!strings.Contains(webText, "key_file: "+mounts["tls"]+"/tls.key") {
		t.Errorf("the certificate does not come from the mounted tls Secret: mounted at %q from %q; web.yml:\n%s", mounts["tls"], volumes["tls"], webText)
	}
	checkWebConfig(t, "ConfigMap headroom-web", webText)
}

func TestExampleWebConfig(t *testing.T) {
	b, err := os.ReadFile("../examples/web.yml")
	if err != nil {
		t.Fatal(err)
	}
	checkWebConfig(t, "examples/web.yml", string(b))
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
	if webConfigArg(f[1:]) == "" {
		t.Error("ExecStart serves without --web.config.file (TLS)")
	}
	for _, want := range []string{"ExecReload=/bin/kill -HUP $MAINPID", "KillSignal=SIGTERM", "ExecStartPre=/usr/local/bin/headroom check config",
		"#   ha:\n#     group_id: "} {
		if !strings.Contains(unit, want) {
			t.Errorf("the unit lacks %q", want)
		}
	}
}
