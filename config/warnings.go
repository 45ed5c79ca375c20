package config

import "fmt"

// Warnings lists what in a valid configuration is unsafe but allowed: the
// daemon logs them at start and after every reload.
func (c *Config) Warnings() []string {
	var out []string
	for i, cl := range c.Clusters {
		if cl.SASL != nil && cl.SASL.Mechanism == SASLPlain && (cl.TLS == nil || !cl.TLS.Enabled) {
			out = append(out, fmt.Sprintf("clusters[%d] (%s): SASL PLAIN without TLS sends the password in clear to every broker; enable tls", i, cl.Name))
		}
		if cl.TLS != nil && cl.TLS.Enabled && cl.TLS.InsecureSkipVerify {
			out = append(out, fmt.Sprintf("clusters[%d] (%s): tls.insecure_skip_verify accepts any broker certificate", i, cl.Name))
		}
	}
	for i, cb := range c.Alerting.Callbacks {
		if cb.SecretFile == "" {
			out = append(out, fmt.Sprintf("alerting.callbacks[%d] (%s): no secret_file; its receiver cannot check that a callback comes from Headroom", i, RedactURL(cb.URL)))
		}
	}
	return out
}
