package config

// AlertingConfig configures the alert loop through Alertmanager.
type AlertingConfig struct {
	// Alertmanagers are the base URLs of the Alertmanagers alerts are sent
	// to (every member of an HA pair). Empty disables sending.
	Alertmanagers []string `yaml:"alertmanagers"`
}

// DefaultAlertingConfig returns the alerting defaults.
func DefaultAlertingConfig() AlertingConfig { return AlertingConfig{} }

// Validate reports the section's problems.
func (c *AlertingConfig) Validate() []error {
	var errs []error
	seen := map[string]bool{}
	for i, u := range c.Alertmanagers {
		if err := checkHTTPURL(u); err != nil {
			errs = append(errs, fieldErr(indexPath("alertmanagers", i), "%v", err))
		}
		if seen[u] {
			errs = append(errs, fieldErr(indexPath("alertmanagers", i), "duplicate Alertmanager %q", u))
		}
		seen[u] = true
	}
	return errs
}
