package config

import "fmt"

// APIConfig configures the HTTP quota tuning API.
type APIConfig struct {
	// MaxBodyBytes caps a request body. Default 1MiB.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
}

// DefaultAPIConfig returns the API defaults.
func DefaultAPIConfig() APIConfig { return APIConfig{MaxBodyBytes: 1 << 20} }

// Validate reports the section's problems.
func (c *APIConfig) Validate() []error {
	var errs []error
	if c.MaxBodyBytes < 1024 {
		errs = append(errs, fieldErr("max_body_bytes", "must be at least 1024"))
	}
	return errs
}

func indexPath(field string, i int) string { return fmt.Sprintf("%s[%d]", field, i) }
