package config

import (
	"fmt"
	"net/url"

	promconfig "github.com/prometheus/common/config"
	"gopkg.in/yaml.v3"
)

// HTTPTarget is an outbound HTTP endpoint (an Alertmanager): its URL and
// how to reach it, with Prometheus's HTTP client configuration (TLS, basic
// auth, bearer token or credentials file, OAuth2, proxy). In YAML it is a
// bare URL or a mapping:
//
//   - http://am-a:9093
//   - url: https://am-b:9093
//     http_config:
//     basic_auth: {username: headroom, password_file: /etc/headroom/am-password}
//     tls_config: {ca_file: /etc/headroom/tls/ca.pem}
//
// Credentials belong in http_config, never in the URL: a URL with a user or
// password is refused, so that URLs can be logged and used as labels.
type HTTPTarget struct {
	URL        string                      `yaml:"url"`
	HTTPConfig promconfig.HTTPClientConfig `yaml:"http_config"`
}

// CallbackConfig is an outbound callback: an HTTP target whose POSTs carry
// an HMAC-SHA256 signature of the body when SecretFile is set.
type CallbackConfig struct {
	URL        string                      `yaml:"url"`
	HTTPConfig promconfig.HTTPClientConfig `yaml:"http_config"`
	// SecretFile holds the key of the X-Headroom-Signature-256 header. It is
	// re-read on every reload; if it cannot be read then, the previous key
	// stays in use.
	SecretFile string `yaml:"secret_file"`
}

// URLs makes bare targets from URLs.
func URLs(urls ...string) []HTTPTarget {
	out := make([]HTTPTarget, len(urls))
	for i, u := range urls {
		out[i] = HTTPTarget{URL: u, HTTPConfig: promconfig.DefaultHTTPClientConfig}
	}
	return out
}

// CallbackURLs makes unsigned callbacks from URLs.
func CallbackURLs(urls ...string) []CallbackConfig {
	out := make([]CallbackConfig, len(urls))
	for i, u := range urls {
		out[i] = CallbackConfig{URL: u, HTTPConfig: promconfig.DefaultHTTPClientConfig}
	}
	return out
}

// mappingFields marks types that decode themselves from a scalar or a
// mapping: checkFields still checks the keys of the mapping form.
type mappingFields interface{ yamlMappingFields() }

func (*HTTPTarget) yamlMappingFields()     {}
func (*CallbackConfig) yamlMappingFields() {}

// UnmarshalYAML accepts a bare URL or a mapping.
func (t *HTTPTarget) UnmarshalYAML(n *yaml.Node) error {
	*t = HTTPTarget{HTTPConfig: promconfig.DefaultHTTPClientConfig}
	if n.Kind == yaml.ScalarNode {
		return n.Decode(&t.URL)
	}
	type plain HTTPTarget
	return n.Decode((*plain)(t))
}

// UnmarshalYAML accepts a bare URL or a mapping.
func (c *CallbackConfig) UnmarshalYAML(n *yaml.Node) error {
	*c = CallbackConfig{HTTPConfig: promconfig.DefaultHTTPClientConfig}
	if n.Kind == yaml.ScalarNode {
		return n.Decode(&c.URL)
	}
	type plain CallbackConfig
	return n.Decode((*plain)(c))
}

// RedactURL returns the URL without its user information and query, for
// logs and metric labels.
func RedactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "<unparsable URL>"
	}
	u.User, u.RawQuery, u.ForceQuery, u.Fragment = nil, "", false, ""
	return u.String()
}

// checkTargetURL checks an outbound URL without ever quoting a credential
// it may carry.
func checkTargetURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("invalid URL %q", RedactURL(s))
	}
	if u.User != nil {
		return fmt.Errorf("URL %q carries credentials; put them in http_config (basic_auth, authorization, oauth2) instead", RedactURL(s))
	}
	return checkHTTPURL(s)
}

func checkHTTPClientConfig(path string, c promconfig.HTTPClientConfig) []error {
	if err := c.Validate(); err != nil {
		return []error{fieldErr(path, "%v", err)}
	}
	return nil
}
