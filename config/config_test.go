package config

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/headroomhq/headroom/config/configtest"
)

func TestGoodFixturesLoad(t *testing.T) {
	files, err := filepath.Glob("testdata/good/*.yml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no good fixtures: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			c, err := LoadFile(f)
			if err != nil {
				t.Fatalf("load: %v", err)
			}
			if len(c.Projects) == 0 || len(c.ResourceGroups) == 0 {
				t.Fatalf("loaded an empty config: %+v", c)
			}
		})
	}
}

func TestExampleStaysInSync(t *testing.T) {
	want, err := os.ReadFile("../examples/headroom.yml")
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("testdata/good/example.yml")
	if err != nil {
		t.Fatal(err)
	}
	if string(want) != string(got) {
		t.Fatal("testdata/good/example.yml differs from examples/headroom.yml; copy it over")
	}
}

// Each bad fixture lists the exact errors it must produce in "# error: "
// header lines; the file must produce those and no others.
func TestBadFixturesFailWithExpectedErrors(t *testing.T) {
	for _, f := range configtest.BadFixtures(t) {
		t.Run(filepath.Base(f.Path), func(t *testing.T) {
			want := slices.Clone(f.Want)
			_, err := Load(f.Data)
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("want Errors, got %v", err)
			}
			var got []string
			for _, e := range errs {
				got = append(got, e.Error())
			}
			slices.Sort(want)
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Fatalf("errors differ\n got: %q\nwant: %q", got, want)
			}
		})
	}
}

func TestUnknownTopLevelFieldIsNamed(t *testing.T) {
	b, err := os.ReadFile("../examples/headroom.yml")
	if err != nil {
		t.Fatal(err)
	}
	b = append(b, []byte("\nquotas_v2: true\n")...)
	_, err = Load(b)
	if err == nil || !strings.Contains(err.Error(), `unknown field "quotas_v2"`) {
		t.Fatalf("want an error naming quotas_v2, got %v", err)
	}
}

func TestDefaults(t *testing.T) {
	c, err := LoadFile("testdata/good/minimal.yml")
	if err != nil {
		t.Fatal(err)
	}
	def := DefaultConfig()
	if c.Global.RoundInterval != def.Global.RoundInterval || time.Duration(c.Global.RoundInterval) != 15*time.Second {
		t.Errorf("round interval = %v, want 15s", c.Global.RoundInterval)
	}
	g := c.ResourceGroups[0]
	if g.Margin != DefaultMargin || g.Cluster != "lab" {
		t.Errorf("group defaults: margin %v cluster %q", g.Margin, g.Cluster)
	}
	p := c.Projects[0]
	tests := []struct {
		name      string
		got, want float64
	}{
		{"produce floor = share/10", float64(p.Produce.Floor), float64(p.Produce.Share) / 10},
		{"fetch floor = share/10", float64(p.Fetch.Floor), float64(p.Fetch.Share) / 10},
		{"produce ceiling = margin x capacity", float64(p.Produce.Ceiling), 0.9 * 10 * (1 << 20)},
		{"fetch ceiling = margin x capacity", float64(p.Fetch.Ceiling), 0.9 * 20 * (1 << 20)},
		{"weight", p.Produce.Weight, 1},
		{"limiter write budget", float64(c.Limiter.WriteBudget), 50},
	}
	for _, tt := range tests {
		if math.Abs(tt.got-tt.want) > 1e-6 {
			t.Errorf("%s: got %v, want %v", tt.name, tt.got, tt.want)
		}
	}
	if c.Limiter.Mode != ModeShadow {
		t.Errorf("limiter mode = %q, want shadow", c.Limiter.Mode)
	}
	if c.Clusters[0].ClientID != DefaultAdminClientID {
		t.Errorf("client id = %q", c.Clusters[0].ClientID)
	}
}

func TestDefaultConfigSectionsAreValid(t *testing.T) {
	def := DefaultConfig()
	for name, errs := range map[string][]error{
		"collector": def.Collector.Validate(),
		"detector":  def.Detector.Validate(),
		"limiter":   def.Limiter.Validate(),
		"alerting":  def.Alerting.Validate(),
		"api":       def.API.Validate(),
		"store":     def.Store.Validate(),
	} {
		if len(errs) > 0 {
			t.Errorf("default %s section is invalid: %v", name, errs)
		}
	}
}

func TestLoadRejectsEmptyAndMultiDocument(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", "empty configuration"},
		{"comment only", "# nothing\n", "empty configuration"},
		{"two documents", "global: {}\n---\nglobal: {}\n", "more than one YAML document"},
		{"not a mapping", "- a\n- b\n", "cannot unmarshal"},
		{"syntax error", "clusters: [\n", "did not find expected"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load([]byte(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("want error containing %q, got %v", tt.want, err)
			}
		})
	}
}

func TestLoadFileWrapsPath(t *testing.T) {
	_, err := LoadFile("testdata/does-not-exist.yml")
	if err == nil || !strings.Contains(err.Error(), "read config testdata/does-not-exist.yml") {
		t.Fatalf("want wrapped error, got %v", err)
	}
}

func TestSecretsNeverPrint(t *testing.T) {
	c, err := LoadFile("testdata/good/sasl_plain_units.yml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Clusters[0].SASL.Password != "hunter2" {
		t.Fatalf("password not loaded")
	}
	out, err := yaml.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{fmt.Sprintf("%v", c.Clusters[0].SASL), fmt.Sprintf("%+v", *c), string(out)} {
		if strings.Contains(s, "hunter2") {
			t.Fatalf("secret leaked: %s", s)
		}
	}
}

func TestParseRate(t *testing.T) {
	tests := []struct {
		in   string
		want float64
		err  string
	}{
		{"50MiB/s", 50 << 20, ""},
		{"100MB/s", 100e6, ""},
		{"1.5 KiB/s", 1536, ""},
		{"2GiB", 2 << 30, ""},
		{"1kB/s", 1000, ""},
		{"42", 42, ""},
		{"0B/s", 0, ""},
		{"-1MiB/s", 0, "must not be negative"},
		{"NaN", 0, "finite"},
		{"+Inf MiB/s", 0, "finite"},
		{".inf", 0, "finite"},
		{"10 parsecs", 0, "unknown unit"},
		{"", 0, "empty"},
		{"/s", 0, "empty"},
		{"MiB/s", 0, "not a number"},
		{"1e400", 0, "finite"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseRate(tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("want error containing %q, got %v (value %v)", tt.err, err, got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if float64(got) != tt.want {
				t.Fatalf("got %v, want %v", float64(got), tt.want)
			}
		})
	}
}

func TestRateStringRoundTrips(t *testing.T) {
	for _, r := range []Rate{0, 1, 1000, 1024, 1536, 50 << 20, 100e6, 3 << 30, 123456789} {
		back, err := ParseRate(r.String())
		if err != nil {
			t.Fatalf("%v: %v", r, err)
		}
		if math.Abs(float64(back-r)) > float64(r)*1e-3 {
			t.Fatalf("%v -> %q -> %v", float64(r), r.String(), float64(back))
		}
	}
}

func FuzzParseRate(f *testing.F) {
	for _, s := range []string{"50MiB/s", "100MB/s", "1.5 KiB/s", "NaN", "-1", "1e400", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRate(s)
		if err != nil {
			return
		}
		if math.IsNaN(float64(r)) || math.IsInf(float64(r), 0) || r < 0 {
			t.Fatalf("ParseRate(%q) = %v without error", s, float64(r))
		}
	})
}

func FuzzLoad(f *testing.F) {
	files, _ := filepath.Glob("testdata/*/*.yml")
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := Load(b)
		if err != nil {
			var errs Errors
			if !errors.As(err, &errs) || len(errs) == 0 {
				t.Fatalf("error is not a non-empty Errors: %v", err)
			}
			return
		}
		if errs := c.Validate(); len(errs) > 0 {
			t.Fatalf("Load accepted a config that fails validation: %v", errs)
		}
	})
}

func TestAPISecurityFixture(t *testing.T) {
	c, err := LoadFile("testdata/good/api_security.yml")
	if err != nil {
		t.Fatal(err)
	}
	a := c.API
	if len(a.TrustedProxies) != 2 || a.RateLimitClients != 5000 || !a.Tokens[0].Proxy || a.Tokens[1].Proxy {
		t.Fatalf("api section: %+v", a)
	}
	if a.Tokens[1].Expires == nil || !a.Tokens[1].Expires.Equal(time.Date(2027, 6, 30, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("expires: %v", a.Tokens[1].Expires)
	}
	if DefaultConfig().API.RateLimitClients != 10000 || len(DefaultConfig().API.TrustedProxies) != 0 {
		t.Fatal("defaults: a bounded table and no trusted proxies")
	}
}

func TestOutboundFixture(t *testing.T) {
	c, err := LoadFile("testdata/good/outbound.yml")
	if err != nil {
		t.Fatal(err)
	}
	ams, cbs := c.Alerting.Alertmanagers, c.Alerting.Callbacks
	if len(ams) != 3 || len(cbs) != 2 {
		t.Fatalf("alertmanagers %d, callbacks %d", len(ams), len(cbs))
	}
	if ams[0].URL != "http://127.0.0.1:9093" || !ams[0].HTTPConfig.FollowRedirects || !ams[0].HTTPConfig.EnableHTTP2 {
		t.Fatalf("a bare URL gets Prometheus's client defaults: %+v", ams[0])
	}
	if b := ams[1].HTTPConfig.BasicAuth; b == nil || b.Username != "headroom" || b.PasswordFile != "/etc/headroom/am-password" ||
		ams[1].HTTPConfig.TLSConfig.CAFile != "/etc/headroom/tls/ca.pem" || ams[1].HTTPConfig.ProxyURL.String() != "http://proxy.example:3128" {
		t.Fatalf("second Alertmanager: %+v", ams[1].HTTPConfig)
	}
	if o := ams[2].HTTPConfig.OAuth2; o == nil || o.ClientSecretFile != "/etc/headroom/oauth-secret" {
		t.Fatalf("oauth2: %+v", o)
	}
	if cbs[0].SecretFile != "" || cbs[1].SecretFile != "/etc/headroom/callback-secret" || cbs[1].HTTPConfig.Authorization.CredentialsFile != "/etc/headroom/chatops-token" {
		t.Fatalf("callbacks: %+v", cbs)
	}
}

func TestWarnings(t *testing.T) {
	base := func() *Config {
		c, err := LoadFile("testdata/good/minimal.yml")
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	tests := []struct {
		name   string
		mutate func(*Config)
		want   []string
	}{
		{"none", func(*Config) {}, nil},
		{"plain without tls", func(c *Config) {
			c.Clusters[0].SASL = &SASLConfig{Mechanism: SASLPlain, Username: "u", PasswordFile: "/p"}
		}, []string{"clusters[0] (lab): SASL PLAIN without TLS sends the password in clear to every broker; enable tls"}},
		{"plain with tls", func(c *Config) {
			c.Clusters[0].SASL = &SASLConfig{Mechanism: SASLPlain, Username: "u", PasswordFile: "/p"}
			c.Clusters[0].TLS = &TLSConfig{Enabled: true}
		}, nil},
		{"scram without tls", func(c *Config) {
			c.Clusters[0].SASL = &SASLConfig{Mechanism: SASLScramSHA512, Username: "u", PasswordFile: "/p"}
		}, nil},
		{"unsigned callback", func(c *Config) {
			c.Alerting.Callbacks = CallbackURLs("https://u:p@hooks.example/x?k=v")
		}, []string{"alerting.callbacks[0] (https://hooks.example/x): no secret_file; its receiver cannot check that a callback comes from Headroom"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := base()
			tt.mutate(c)
			if got := c.Warnings(); !slices.Equal(got, tt.want) {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}
