package config

import (
	"encoding/hex"
	"fmt"
	"math"
)

// API roles, from least to most allowed.
const (
	RoleViewer   = "viewer"
	RoleOperator = "operator"
	RoleAdmin    = "admin"
)

// APIConfig configures the HTTP quota tuning API under /api/v1.
type APIConfig struct {
	// MaxBodyBytes caps a request body. Default 1MiB.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// Tokens are the bearer tokens the API accepts. Only their SHA-256 is
	// stored: `printf %s "$TOKEN" | sha256sum`. With no tokens every
	// request but /api/v1/health is refused.
	Tokens []APIToken `yaml:"tokens"`
	// RateLimit is the sustained requests per second allowed per token
	// (per remote address before authentication). Default 100.
	RateLimit float64 `yaml:"rate_limit"`
	// RateBurst is how many requests may come at once. Default 200.
	RateBurst int `yaml:"rate_burst"`
}

// APIToken is one bearer token.
type APIToken struct {
	// Name identifies the holder in the audit trail.
	Name string `yaml:"name"`
	// Role is viewer, operator or admin.
	Role string `yaml:"role"`
	// SHA256 is the hex SHA-256 of the token.
	SHA256 string `yaml:"sha256"`
}

// DefaultAPIConfig returns the API defaults.
func DefaultAPIConfig() APIConfig {
	return APIConfig{MaxBodyBytes: 1 << 20, RateLimit: 100, RateBurst: 200}
}

// Validate reports the section's problems.
func (c *APIConfig) Validate() []error {
	var errs []error
	if c.MaxBodyBytes < 1024 {
		errs = append(errs, fieldErr("max_body_bytes", "must be at least 1024"))
	}
	if !(c.RateLimit > 0) || math.IsInf(c.RateLimit, 0) {
		errs = append(errs, fieldErr("rate_limit", "must be a finite number above zero, got %v", c.RateLimit))
	}
	if c.RateBurst < 1 {
		errs = append(errs, fieldErr("rate_burst", "must be at least 1"))
	}
	names, hashes := map[string]bool{}, map[string]bool{}
	for i, t := range c.Tokens {
		p := indexPath("tokens", i)
		switch {
		case t.Name == "":
			errs = append(errs, fieldErr(p+".name", "required"))
		case names[t.Name]:
			errs = append(errs, fieldErr(p+".name", "duplicate token name %q", t.Name))
		}
		names[t.Name] = true
		switch t.Role {
		case RoleViewer, RoleOperator, RoleAdmin:
		default:
			errs = append(errs, fieldErr(p+".role", "must be viewer, operator or admin; got %q", t.Role))
		}
		if b, err := hex.DecodeString(t.SHA256); err != nil || len(b) != 32 {
			errs = append(errs, fieldErr(p+".sha256", "must be 64 hex digits (the SHA-256 of the token), not the token itself"))
		} else if hashes[t.SHA256] {
			errs = append(errs, fieldErr(p+".sha256", "the same token is listed twice"))
		}
		hashes[t.SHA256] = true
	}
	return errs
}

func indexPath(field string, i int) string { return fmt.Sprintf("%s[%d]", field, i) }
